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

// appProcess is one instance of a service as its own resource names it
// (target_info): the pid it sees, and the pod and container it runs in
// where the deployment sets them (k8s.pod.uid from the manifests'
// OTEL_RESOURCE_ATTRIBUTES; container.id).
type appProcess struct{ pid, pod, container string }

// processKey is one process as one agent reports it: the pid it sees and
// the ids it read from the process's cgroup.
type processKey struct{ agent, pid, pod, container string }

// rssSeries is one process's RSS.
type rssSeries struct {
	processKey
	series promSeries
}

// memoryFigures are what the memory queries return.
type memoryFigures struct {
	// apps maps a service's instance (job, instance) to its process.
	apps map[[2]string]appProcess
	// resident is every RSS series of the services' processes;
	// connections the open connections per instance.
	resident    []rssSeries
	connections map[[2]string]promSeries
}

// memoryPerConnection measures each service's memory per connection over
// the window (advise.EstimateMemoryPerConnection) from the agent's RSS
// (process_memory_usage_bytes) and the service's open connections
// (db_client_connection_count), paired as pairProcess says, for
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

// idLabels are the labels that tie a service's instances to the agent's
// processes.
const idLabels = "process_pid, k8s_pod_uid, container_id"

func (s *promSource) memoryFigures(ctx context.Context) (memoryFigures, error) {
	f := memoryFigures{apps: map[[2]string]appProcess{}, connections: map[[2]string]promSeries{}}
	info := "target_info" + s.selector()
	v, err := s.instant(ctx, "process ids", fmt.Sprintf("group by (job, instance, %s) (last_over_time(%s[%s]))", idLabels, info, promDuration(s.f.window)))
	if err != nil {
		return f, err
	}
	for _, ss := range v {
		f.apps[[2]string{ss.metric["job"], ss.metric["instance"]}] = appProcess{ss.metric["process_pid"], ss.metric["k8s_pod_uid"], ss.metric["container_id"]}
	}
	// Only the services' processes, of every process the agent samples:
	// those with a pid a service reports, or in a pod one runs in.
	m, err := s.series(ctx, "process memory", fmt.Sprintf(
		`max by (instance, %[1]s) (process_memory_usage_bytes) and on (process_pid) group by (process_pid) (target_info%[2]s)
		or max by (instance, %[1]s) (process_memory_usage_bytes) and on (k8s_pod_uid) group by (k8s_pod_uid) (target_info%[3]s)`,
		idLabels, s.selector(`process_pid!=""`), s.selector(`k8s_pod_uid!=""`)))
	if err != nil {
		return f, err
	}
	for _, ss := range m {
		f.resident = append(f.resident, rssSeries{processKey{ss.metric["instance"], ss.metric["process_pid"], ss.metric["k8s_pod_uid"], ss.metric["container_id"]}, ss})
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

// pairProcess finds the agent's RSS series of an instance: by its pod
// (and container, where both name one) when the instance reports a pod
// uid the agent saw, so that an agent in another pid namespace (a
// DaemonSet with hostPID, a sidecar without a shared process namespace:
// the app is pid 1 to itself, 4242 to the agent) still finds it; among
// several processes of that pod, the one with the app's own pid; else by
// pid alone, which needs the agent to see the app's pid namespace. It
// returns the process (ok false when none matches) and why none can be
// chosen when several could.
func (f memoryFigures) pairProcess(app appProcess) (key processKey, ok bool, ambiguous string) {
	var inPod []rssSeries
	for _, r := range f.resident {
		if app.pod != "" && r.pod == app.pod && (app.container == "" || r.container == "" || r.container == app.container) {
			inPod = append(inPod, r)
		}
	}
	if len(inPod) > 0 {
		if k, ok := oneProcess(inPod); ok {
			return k, true, ""
		}
		if k, ok := oneProcess(withPID(inPod, app.pid)); ok {
			return k, true, ""
		}
		return processKey{}, false, fmt.Sprintf("pod %s (%d processes sampled there, none or several with the app's pid %s)", app.pod, distinct(inPod), orDash(app.pid))
	}
	same := withPID(f.resident, app.pid)
	if app.pid == "" || len(same) == 0 {
		return processKey{}, false, ""
	}
	if k, ok := oneProcess(same); ok {
		return k, true, ""
	}
	return processKey{}, false, "pid " + app.pid + " (reported by more than one agent: agents on several hosts?)"
}

// withPID keeps the series of the process with pid.
func withPID(rs []rssSeries, pid string) []rssSeries {
	var out []rssSeries
	for _, r := range rs {
		if pid != "" && r.pid == pid {
			out = append(out, r)
		}
	}
	return out
}

// oneProcess is the key of the series when they are one process's, as
// one agent reports it: several agents reporting a pid, or several pids,
// cannot be told apart.
func oneProcess(rs []rssSeries) (processKey, bool) {
	if len(rs) != 1 {
		return processKey{}, false
	}
	return rs[0].processKey, true
}

func distinct(rs []rssSeries) int {
	seen := map[processKey]bool{}
	for _, r := range rs {
		seen[r.processKey] = true
	}
	return len(seen)
}

// processes lays out the service's processes for the fit: per process,
// the RSS and the sum of its instances' connections (a process may run
// more than one instrumented pipeline). A process that another service
// also claims, or that cannot be told apart from another (pairProcess), is
// left out; note says which were.
func (f memoryFigures) processes(service string, s *promSource) ([]advise.ProcessMemory, string) {
	owners := map[processKey][]string{} // process -> services
	instances := map[processKey][]string{}
	var ambiguous []string
	for k, app := range f.apps {
		key, ok, why := f.pairProcess(app)
		if why != "" && k[0] == service && !slices.Contains(ambiguous, why) {
			ambiguous = append(ambiguous, why)
		}
		if !ok {
			continue
		}
		if !slices.Contains(owners[key], k[0]) {
			owners[key] = append(owners[key], k[0])
		}
		if k[0] == service {
			instances[key] = append(instances[key], k[1])
		}
	}
	rss := map[processKey]promSeries{}
	for _, r := range f.resident {
		rss[r.processKey] = r.series
	}
	n := int(s.f.window / s.f.step)
	start := s.end.Add(-s.f.window + s.f.step)
	var procs []advise.ProcessMemory
	for key, insts := range instances {
		if len(owners[key]) > 1 {
			ambiguous = append(ambiguous, "pid "+key.pid+" (reported by more than one service)")
			continue
		}
		p := advise.ProcessMemory{Resident: s.align([]promSeries{rss[key]}, start, n), Connections: make([]float64, n)}
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
	return procs, "left out " + strings.Join(ambiguous, ", ")
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
