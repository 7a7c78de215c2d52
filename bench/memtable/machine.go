package memtable

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/poolscope/poolscope/internal/redisserver"
)

// Machine describes where the table was measured.
type Machine struct {
	CPU          string // /proc/cpuinfo "model name"
	CPUs         int    // runtime.NumCPU
	MemTotal     int64  // bytes, /proc/meminfo MemTotal
	Kernel       string // /proc/sys/kernel/osrelease
	OS           string // /etc/os-release PRETTY_NAME
	Go           string // runtime.Version
	Redis        string // INFO server redis_version
	LoadAtStart  string // /proc/loadavg, first three fields
	LoadAtFinish string
}

func (m Machine) String() string {
	return fmt.Sprintf("%s, %d CPUs, %.1f GiB RAM, %s, Linux %s, %s/%s, redis-server %s",
		m.CPU, m.CPUs, float64(m.MemTotal)/(1<<30), m.OS, m.Kernel, m.Go, runtime.GOARCH, m.Redis)
}

// describeMachine reads the machine description; what cannot be read is
// "unknown" (the description is for readers, not a reason to fail).
func describeMachine(ctx context.Context, srv *redisserver.Server) Machine {
	m := Machine{CPU: "unknown", OS: "unknown", Kernel: "unknown", Redis: "unknown", CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if v := fieldOf("/proc/cpuinfo", "model name", ':'); v != "" {
		m.CPU = v
	}
	if v := fieldOf("/proc/meminfo", "MemTotal", ':'); v != "" {
		if kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
			m.MemTotal = kb << 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if v := fieldOf("/etc/os-release", "PRETTY_NAME", '='); v != "" {
		m.OS = strings.Trim(v, `"`)
	}
	if info, err := srv.Admin().Info(ctx, "server").Result(); err == nil {
		if v := infoField(info, "redis_version"); v != "" {
			m.Redis = v
		}
	}
	m.LoadAtStart = loadAverage()
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// fieldOf returns the value of the first "key<sep>value" line of a file.
func fieldOf(path, key string, sep byte) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), string(sep))
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// infoField returns a field of an INFO reply.
func infoField(info, key string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}
