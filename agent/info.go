package agent

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// errInfoNoClients is returned by parseInfo for a reply without
// connected_clients, the one field every INFO clients section has.
var errInfoNoClients = errors.New("agent: INFO reply has no connected_clients field")

// infoField is one INFO field the agent reads.
type infoField uint8

const (
	fieldConnected infoField = 1 << iota
	fieldBlocked
	fieldMaxClients
	fieldReceived
	fieldRejected
)

// redisInfo holds the INFO clients, stats and cpu fields the agent exports,
// in the server's units (counts, seconds). have says which fields the reply carried:
// maxclients, for one, is in INFO clients only since Redis 7.0.
type redisInfo struct {
	connected, blocked, maxClients int64
	received, rejected             int64
	have                           infoField

	role    string // "master" or "replica" (INFO replication), "" when absent
	cluster bool   // cluster_enabled:1 (INFO cluster)

	// cpu is INFO cpu's seconds per state (cpuStates); cpuHave says which
	// the reply carried: the main-thread ones exist from Redis 6.2 on.
	cpu     [numCPUStates]float64
	cpuHave uint8
}

// cpuStates are the states of redis.cpu.time, as the Collector's redis
// receiver names them, and the INFO cpu field of each.
var cpuStates = [...]struct{ state, field string }{
	{"sys", "used_cpu_sys"},
	{"sys_children", "used_cpu_sys_children"},
	{"sys_main_thread", "used_cpu_sys_main_thread"},
	{"user", "used_cpu_user"},
	{"user_children", "used_cpu_user_children"},
	{"user_main_thread", "used_cpu_user_main_thread"},
}

const numCPUStates = len(cpuStates)

func (i redisInfo) hasCPU(state int) bool { return i.cpuHave&(1<<state) != 0 }

// cpuState is the index in cpuStates of an INFO cpu field, -1 for any
// other key.
func cpuState(key string) int {
	for i, c := range cpuStates {
		if c.field == key {
			return i
		}
	}
	return -1
}

// parseCPU sets one INFO cpu field: seconds, a finite number >= 0 ("1.234567").
func (i *redisInfo) parseCPU(state int, key, value string) error {
	f, err := strconv.ParseFloat(value, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		i.cpu[state], i.cpuHave = 0, i.cpuHave&^(1<<state)
		return fmt.Errorf("agent: INFO %s=%q: not a number of seconds >= 0", key, clip(value))
	}
	i.cpu[state] = f
	i.cpuHave |= 1 << state
	return nil
}

func (i redisInfo) has(f infoField) bool { return i.have&f != 0 }

// parseInfo reads an INFO reply: "# Section" headers and "key:value" lines
// separated by CRLF (LF alone is accepted too). Unknown keys, headers and
// lines without a colon are ignored, so that newer servers' additions never
// break it. A known field whose value is not a whole number >= 0 (INFO cpu:
// a number of seconds >= 0) is left out
// and reported in the error; the fields that did parse are returned with it.
// It never panics, whatever the input.
func parseInfo(reply string) (redisInfo, error) {
	var info redisInfo
	var errs []error
	for rest := reply; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var f infoField
		var dst *int64
		switch key {
		case "role":
			info.role = roleName(value)
			continue
		case "cluster_enabled":
			info.cluster = value == "1"
			continue
		case "connected_clients":
			f, dst = fieldConnected, &info.connected
		case "blocked_clients":
			f, dst = fieldBlocked, &info.blocked
		case "maxclients":
			f, dst = fieldMaxClients, &info.maxClients
		case "total_connections_received":
			f, dst = fieldReceived, &info.received
		case "rejected_connections":
			f, dst = fieldRejected, &info.rejected
		default:
			if c := cpuState(key); c >= 0 {
				if err := info.parseCPU(c, key, value); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("agent: INFO %s=%q: not a whole number >= 0", key, clip(value)))
			info.have &^= f
			continue
		}
		*dst = n
		info.have |= f
	}
	if !info.has(fieldConnected) && len(errs) == 0 {
		errs = append(errs, errInfoNoClients)
	}
	return info, errors.Join(errs...)
}

// roleName is INFO's role in the words of the metrics: "master" or
// "replica" (INFO says "slave"); "" for anything else.
func roleName(v string) string {
	switch v {
	case "master":
		return "master"
	case "slave", "replica":
		return "replica"
	}
	return ""
}

// clip shortens a value quoted in an error, so that a garbage reply cannot
// flood the log.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
