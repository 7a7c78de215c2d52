package benchtables

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes the machine the tables ran on: CPUs and model, memory,
// kernel, Go.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimLeft(v, " \t:"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb uint64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs, %s%s%s, %s %s/%s", runtime.NumCPU(), model, mem, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// mib is bytes in MiB.
func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// PrintAgentCost prints the agent-cost table and, per size, a summary
// line:
//
//	agent: processes=N hostmetrics/poolscope=R1 (memory-only) R2 (defaults) poolscope_rss_mb=M
//
// where R1 and R2 are ratios of CPU time per pass per process measured in
// the same window.
func PrintAgentCost(w io.Writer, rows []AgentCostRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "agent cost: idle %q processes sampled by each sampler at a %s interval, CPU counted over the same %s window (utime+stime);\n", SleeperName, rows[0].Interval, rows[0].Window)
	fmt.Fprintf(w, "host: processes on the machine (hostmetrics reads them all at every pass); tcp: sockets in /proc/net/tcp{,6} (poolscope\n")
	fmt.Fprintf(w, "reads them all at every 6th pass when it watches a server over TCP); seen: processes the sampler reported\n\n")
	fmt.Fprintf(w, "%-24s %9s %6s %6s %6s %8s %8s %14s %8s %8s %8s %8s %12s\n",
		"sampler", "processes", "host", "tcp", "seen", "CPU s", "CPU %", "us/pass/proc", "RSS MB", "anon MB", "file MB", "peak MB", "x poolscope")
	for _, n := range sizes(rows) {
		var base AgentCostRow
		for _, r := range rows {
			if r.Processes == n && r.Sampler == SamplerPoolscope {
				base = r
			}
		}
		for _, r := range rows {
			if r.Processes != n {
				continue
			}
			ratio := "-"
			if base.CPU > 0 {
				ratio = fmt.Sprintf("%.2f", r.CPU/base.CPU)
			}
			seen := "-"
			if r.Seen >= 0 {
				seen = strconv.Itoa(r.Seen)
			}
			fmt.Fprintf(w, "%-24s %9d %6d %6d %6s %8.2f %8.2f %14.1f %8.1f %8.1f %8.1f %8.1f %12s\n",
				r.Sampler, r.Processes, r.HostProcesses, r.HostTCPSockets, seen, r.CPU, 100*r.CPUShare(), r.MicrosPerProcessPass(),
				mib(r.RSS), mib(r.RSSAnon), mib(r.RSSFile), mib(r.PeakRSS), ratio)
		}
	}
	fmt.Fprintln(w)
	for _, n := range sizes(rows) {
		got := map[string]AgentCostRow{}
		for _, r := range rows {
			if r.Processes == n {
				got[r.Sampler] = r
			}
		}
		p := got[SamplerPoolscope]
		ratio := func(s string) string {
			if p.CPU <= 0 {
				return "inf"
			}
			return fmt.Sprintf("%.2f", got[s].CPU/p.CPU)
		}
		fmt.Fprintf(w, "agent: processes=%d hostmetrics/poolscope=%s (memory-only) %s (defaults) poolscope_rss_mb=%.1f\n",
			n, ratio(SamplerHostmetricsMem), ratio(SamplerHostmetrics), mib(p.RSS))
	}
}

func sizes(rows []AgentCostRow) []int {
	var out []int
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1] != r.Processes {
			out = append(out, r.Processes)
		}
	}
	return out
}
