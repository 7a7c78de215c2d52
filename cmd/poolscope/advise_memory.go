package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/poolscope/poolscope/advise"
)

// memtableName names the fall-back figure, memoryPerConnection.
const memtableName = "make memtable's figure for a plain connection"

// processKey is one process as the agent names it: its pid, seen by one
// agent (instance).
type processKey struct{ agent, pid string }

// memoryFigures are what the memory queries return.
type memoryFigures struct {
	// pidOf maps a service's instance (job, instance) to its process.pid,
	// from target_info.
	pidOf map[[2]string]string
	// resident is the agent's RSS series per pid, one per agent that
	// reports the pid; connections the open connections per instance.
	resident    map[string][]promSeries
	connections map[[2]string]promSeries
}

// memoryPerConnection measures each service's memory per connection over
// the window (advise.EstimateMemoryPerConnection) from the agent's RSS
// (process_memory_usage_bytes) and the service's open connections
// (db_client_connection_count), tied by process.pid (target_info), for
// advise.WithMemory. A query that fails leaves the fall-back figure, with
// the reason: the memory only prices the advice.
func (s *promSource) memoryPerConnection(ctx context.Context, pools []advise.Pool) []advise.MemoryEstimate {
	var services []string
	for _, p := range pools {
		if !slices.Contains(services, p.Service) {
			services = append(services, p.Service)
		}
	}
	slices.Sort(services)
	f, err := s.memoryFigures(ctx)
	estimates := make([]advise.MemoryEstimate, 0, len(services))
	for _, svc := range services {
		if err != nil { // the data was never seen: the reason is the query's failure alone
			estimates = append(estimates, advise.MemoryEstimate{Service: svc, BytesPerConnection: memoryPerConnection,
				Reason: memtableName + ": " + err.Error(), Slope: math.NaN(), StdErr: math.NaN(), Spread: math.NaN()})
			continue
		}
		procs, note := f.processes(svc, s)
		e := advise.EstimateMemoryPerConnection(svc, procs, memoryPerConnection, memtableName)
		if note != "" {
			e.Reason += "; " + note
		}
		estimates = append(estimates, e)
	}
	return estimates
}

func (s *promSource) memoryFigures(ctx context.Context) (memoryFigures, error) {
	f := memoryFigures{pidOf: map[[2]string]string{}, resident: map[string][]promSeries{}, connections: map[[2]string]promSeries{}}
	info := "target_info" + s.selector(`process_pid!=""`)
	v, err := s.instant(ctx, "process ids", fmt.Sprintf("group by (job, instance, process_pid) (last_over_time(%s[%s]))", info, promDuration(s.f.window)))
	if err != nil {
		return f, err
	}
	for _, ss := range v {
		f.pidOf[[2]string{ss.metric["job"], ss.metric["instance"]}] = ss.metric["process_pid"]
	}
	// Only the services' processes, of every process the agent samples.
	m, err := s.series(ctx, "process memory", fmt.Sprintf(
		"max by (instance, process_pid) (process_memory_usage_bytes) and on (process_pid) group by (process_pid) (%s)", info))
	if err != nil {
		return f, err
	}
	for _, ss := range m {
		pid := ss.metric["process_pid"]
		f.resident[pid] = append(f.resident[pid], ss)
	}
	m, err = s.series(ctx, "open connections", "sum by (job, instance) (db_client_connection_count"+s.selector()+")")
	if err != nil {
		return f, err
	}
	for _, ss := range m {
		f.connections[[2]string{ss.metric["job"], ss.metric["instance"]}] = ss
	}
	return f, nil
}

// processes lays out the service's processes for the fit: per pid, the
// RSS and the sum of its instances' connections (a process may run more
// than one instrumented pipeline). A pid that another service also
// reports, or that more than one agent reports (processes on several
// hosts with the same pid), cannot be told apart and is left out; note
// says how many were.
func (f memoryFigures) processes(service string, s *promSource) ([]advise.ProcessMemory, string) {
	owners := map[string][]string{} // pid -> services
	instances := map[string][]string{}
	for k, pid := range f.pidOf {
		if !slices.Contains(owners[pid], k[0]) {
			owners[pid] = append(owners[pid], k[0])
		}
		if k[0] == service {
			instances[pid] = append(instances[pid], k[1])
		}
	}
	n := int(s.f.window / s.f.step)
	start := s.end.Add(-s.f.window + s.f.step)
	var procs []advise.ProcessMemory
	var ambiguous []string
	for pid, insts := range instances {
		if len(owners[pid]) > 1 || len(f.resident[pid]) > 1 {
			ambiguous = append(ambiguous, pid)
			continue
		}
		p := advise.ProcessMemory{Resident: s.align(f.resident[pid], start, n), Connections: make([]float64, n)}
		for _, inst := range insts {
			c := s.align([]promSeries{f.connections[[2]string{service, inst}]}, start, n)
			for i := range c {
				p.Connections[i] += c[i] // NaN stays NaN: a step without every instance's count is left out
			}
		}
		procs = append(procs, p)
	}
	if len(ambiguous) == 0 {
		return procs, ""
	}
	slices.Sort(ambiguous)
	return procs, fmt.Sprintf("left out pid %s: reported by more than one service or agent (agents on several hosts?)",
		strings.Join(ambiguous, ", "))
}

// writeMemoryText prints, per service, the memory per connection the
// costs use and why.
func writeMemoryText(w io.Writer, estimates []advise.MemoryEstimate) {
	if len(estimates) > 0 {
		fmt.Fprintln(w)
	}
	for _, e := range estimates {
		fmt.Fprintf(w, "  %s: memory per connection %s, %s\n", e.Service, advise.FormatBytes(e.BytesPerConnection), e.Reason)
	}
}

// memoryJSON is one service's entry of --json's memory_per_connection.
type memoryJSON struct {
	Service   string   `json:"service"`
	Bytes     float64  `json:"bytes"`
	Source    string   `json:"source"` // "measured" or "memtable"
	Reason    string   `json:"reason"`
	Slope     *float64 `json:"slope_bytes"`
	StdErr    *float64 `json:"stderr_bytes"`
	Processes int      `json:"processes"`
	Samples   int      `json:"samples"`
	Spread    *float64 `json:"connection_spread"`
}

func memoryEntries(estimates []advise.MemoryEstimate) []memoryJSON {
	out := make([]memoryJSON, 0, len(estimates))
	for _, e := range estimates {
		source := "memtable"
		if e.Measured {
			source = "measured"
		}
		out = append(out, memoryJSON{Service: e.Service, Bytes: e.BytesPerConnection, Source: source, Reason: e.Reason,
			Slope: finite(e.Slope), StdErr: finite(e.StdErr), Processes: e.Processes, Samples: e.Samples, Spread: finite(e.Spread)})
	}
	return out
}
