package agent

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/poolscope/poolscope/pools"
)

// otherName is the group that collects every client name beyond the top N.
const otherName = "other"

// clientEntry is one CLIENT LIST line, reduced to what the agent uses.
// Strings point into the reply.
type clientEntry struct {
	id        int64
	name      string
	age, idle int64 // seconds
	cmd       string
}

// parseClientList reads a CLIENT LIST reply: one line per connection, each
// a space-separated list of key=value fields ("id=7 addr=... name=x age=3
// idle=0 ... cmd=ping ..."). Redis refuses spaces and newlines in client
// names, so splitting on spaces is safe. A line without a valid id, age or
// idle is skipped and counted in the error; the good lines are returned
// with it. Unknown fields are ignored. It never panics, whatever the input.
func parseClientList(reply string) ([]clientEntry, error) {
	entries := make([]clientEntry, 0, strings.Count(reply, "\n")+1)
	bad, firstBad := 0, ""
	for rest := reply; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		e, ok := parseClientLine(line)
		if !ok {
			if bad == 0 {
				firstBad = line
			}
			bad++
			continue
		}
		entries = append(entries, e)
	}
	if bad > 0 {
		return entries, fmt.Errorf("agent: CLIENT LIST: %d malformed line(s), the first: %q", bad, clip(firstBad))
	}
	return entries, nil
}

func parseClientLine(line string) (clientEntry, bool) {
	e := clientEntry{id: -1, age: -1, idle: -1}
	for rest := line; rest != ""; {
		var field string
		field, rest, _ = strings.Cut(rest, " ")
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		switch key {
		case "id":
			e.id = parseCount(value)
		case "name":
			e.name = value
		case "age":
			e.age = parseCount(value)
		case "idle":
			e.idle = parseCount(value)
		case "cmd":
			e.cmd = value
		}
	}
	return e, e.id >= 0 && e.age >= 0 && e.idle >= 0
}

// parseCount parses a whole number >= 0; anything else gives -1.
func parseCount(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// clientGroup is the connections of one client name on one server.
type clientGroup struct {
	name    string
	count   int64
	ageMax  int64 // seconds, the oldest connection
	idleMax int64 // seconds, the longest idle connection
}

// groupClients counts the entries per client name, leaving out the agent's
// own connection, and keeps the topN names with the most connections (ties
// broken by name, so that the choice is stable); the rest are merged into
// one group named "other". A connection's name is kept as it is; unnamed
// connections form the group "".
//
// ownID is the agent's connection id (CLIENT ID); when it is unknown (0),
// the agent's connection is recognised as the one named AgentClientName
// that is running CLIENT LIST right now.
func groupClients(entries []clientEntry, ownID int64, topN int) []clientGroup {
	byName := make(map[string]*clientGroup)
	for _, e := range entries {
		if (ownID > 0 && e.id == ownID) || (ownID <= 0 && e.name == ClientName && isClientListCmd(e.cmd)) {
			continue
		}
		g := byName[e.name]
		if g == nil {
			g = &clientGroup{name: e.name}
			byName[e.name] = g
		}
		g.count++
		g.ageMax = max(g.ageMax, e.age)
		g.idleMax = max(g.idleMax, e.idle)
	}
	groups := make([]clientGroup, 0, len(byName))
	for _, g := range byName {
		groups = append(groups, *g)
	}
	slices.SortFunc(groups, func(a, b clientGroup) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	if topN < 1 || len(groups) <= topN {
		return groups
	}
	other := clientGroup{name: otherName}
	for _, g := range groups[topN:] {
		other.count += g.count
		other.ageMax = max(other.ageMax, g.ageMax)
		other.idleMax = max(other.idleMax, g.idleMax)
	}
	// A client really named "other" among the top N absorbs the rest, so
	// that no two series carry the same attributes.
	groups = groups[:topN]
	for i := range groups {
		if groups[i].name == otherName {
			groups[i].count += other.count
			groups[i].ageMax = max(groups[i].ageMax, other.ageMax)
			groups[i].idleMax = max(groups[i].idleMax, other.idleMax)
			return groups
		}
	}
	return append(groups, other)
}

// isClientListCmd reports whether cmd is CLIENT LIST as CLIENT LIST shows
// it: "client|list" since Redis 7.0, "client" before.
func isClientListCmd(cmd string) bool { return cmd == "client|list" || cmd == "client" }

// groupAttributes are the attributes of a group's series: the raw name, its
// poolscope parts when it is a poolscope name ("service:role:pid"), and
// the server.
func groupAttributes(name string, server []attribute.KeyValue) attribute.Set {
	var service, role, pid string
	if name != otherName {
		if p, ok := pools.ParseClientName(name); ok {
			service, role, pid = p.Service, p.Role, strconv.Itoa(p.Pid)
		}
	}
	kv := make([]attribute.KeyValue, 0, 4+len(server))
	kv = append(kv,
		attrClientName.String(name),
		attrClientService.String(service),
		attrClientRole.String(role),
		attrClientPID.String(pid),
	)
	kv = append(kv, server...)
	return attribute.NewSet(kv...)
}
