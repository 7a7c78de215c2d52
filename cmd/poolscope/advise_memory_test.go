package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/advise"
)

// memoryHistory is the recorded past the memory test backfills into a
// real Prometheus: the last half hour, a sample every 15 s.
const (
	memoryHistory  = 30 * time.Minute
	memorySampleEv = 15 * time.Second
)

// memoryProcess is one process of the backfilled fleet: its service,
// instance (service.instance.id) and pid; its open connections and RSS at
// sample i; the agents that report its RSS (none: no RSS series); the pod
// it runs in, if any, and the pids the agent sees it under when the agent
// is in another pid namespace (several: other processes of the pod the
// agent samples too).
type memoryProcess struct {
	service, instance, pid string
	conns                  func(i int) float64
	rss                    func(conns float64, i int) float64
	agents                 []string
	pod                    string
	agentPIDs              []string
}

// The fleet: checkout's two processes pay 24 KiB of RSS per connection
// over heaps 40 MB apart (with ±2 KiB of jitter); the other services are
// the fall-back cases.
var memoryFleet = []memoryProcess{
	{"checkout", "a", "101", func(i int) float64 { return float64(10 + i%20) },
		func(c float64, i int) float64 { return 50e6 + 24<<10*c + jitter(i, 2<<10) }, []string{"agent-1"}, "", nil},
	{"checkout", "b", "102", func(i int) float64 { return float64(40 + i*7%30) },
		func(c float64, i int) float64 { return 90e6 + 24<<10*c + jitter(i, 2<<10) }, []string{"agent-1"}, "", nil},
	{"nomem", "c", "201", func(i int) float64 { return float64(5 + i%10) }, nil, nil, "", nil},
	{"flat", "d", "301", func(int) float64 { return 12 },
		func(_ float64, i int) float64 { return 60e6 + jitter(i, 1<<20) }, []string{"agent-1"}, "", nil},
	{"shrinking", "e", "401", func(i int) float64 { return float64(10 + i%25) },
		func(c float64, _ int) float64 { return 80e6 - 64<<10*c }, []string{"agent-1"}, "", nil},
	{"twohosts", "f", "501", func(i int) float64 { return float64(10 + i%25) },
		func(c float64, _ int) float64 { return 70e6 + 20<<10*c }, []string{"agent-1", "agent-2"}, "", nil},
	// A DaemonSet agent (hostPID) sees the app, pid 1 in its pod, as 4242:
	// paired by the pod's uid.
	{"daemonset", "g", "1", func(i int) float64 { return float64(10 + i%20) },
		func(c float64, i int) float64 { return 30e6 + 32<<10*c + jitter(i, 2<<10) }, []string{"agent-1"}, "uid-g", []string{"4242"}},
	// The agent samples two processes of the pod, neither with the app's
	// pid: which is the app cannot be told.
	{"twoinpod", "h", "1", func(i int) float64 { return float64(10 + i%20) },
		func(c float64, _ int) float64 { return 30e6 + 32<<10*c }, []string{"agent-1"}, "uid-h", []string{"4300", "4301"}},
}

func jitter(i int, a float64) float64 { return a * float64(1-2*(i%2)) }

// podLabel is the k8s_pod_uid label, for a process in a pod.
func podLabel(uid string) string {
	if uid == "" {
		return ""
	}
	return fmt.Sprintf(",k8s_pod_uid=%q", uid)
}

// writeMemoryHistory writes the fleet's series in OpenMetrics (every
// family's samples together, as promtool wants them) ending at end.
func writeMemoryHistory(path string, end time.Time) error {
	n := int(memoryHistory / memorySampleEv)
	at := func(i int) string {
		return fmt.Sprintf("%d", end.Add(-time.Duration(n-i)*memorySampleEv).Unix())
	}
	var b strings.Builder
	pool := `db_client_connection_pool_name="master",server_address="10.0.0.5",server_port="6379"`
	family := func(name string, each func(p memoryProcess, i int)) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		for _, p := range memoryFleet {
			for i := range n {
				each(p, i)
			}
		}
	}
	family("target_info", func(p memoryProcess, i int) {
		fmt.Fprintf(&b, "target_info{job=%q,instance=%q,process_pid=%q%s} 1 %s\n", p.service, p.instance, p.pid, podLabel(p.pod), at(i))
	})
	family("db_client_connection_max", func(p memoryProcess, i int) {
		fmt.Fprintf(&b, "db_client_connection_max{job=%q,instance=%q,%s} 64 %s\n", p.service, p.instance, pool, at(i))
	})
	family("db_client_connection_count", func(p memoryProcess, i int) {
		fmt.Fprintf(&b, "db_client_connection_count{job=%q,instance=%q,%s,db_client_connection_state=\"idle\"} %g %s\n",
			p.service, p.instance, pool, p.conns(i), at(i))
	})
	fmt.Fprintf(&b, "# TYPE process_memory_usage_bytes gauge\n")
	for _, agent := range []string{"agent-1", "agent-2"} {
		for _, p := range memoryFleet {
			if p.rss == nil || !slices.Contains(p.agents, agent) {
				continue
			}
			pids := p.agentPIDs
			if pids == nil {
				pids = []string{p.pid}
			}
			for _, pid := range pids {
				for i := range n {
					fmt.Fprintf(&b, "process_memory_usage_bytes{job=\"poolscope-agent\",instance=%q,process_pid=%q%s} %.0f %s\n",
						agent, pid, podLabel(p.pod), p.rss(p.conns(i), i), at(i))
				}
			}
		}
	}
	b.WriteString("# EOF\n")
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// backfilledPrometheus writes a history (write: OpenMetrics ending at
// end) into TSDB blocks with promtool and starts Prometheus on them
// (nothing scraped).
func backfilledPrometheus(t *testing.T, write func(path string, end time.Time) error) string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found in PATH: apt-get install -y --no-install-recommends prometheus (or make deps)")
	}
	dir := t.TempDir()
	input, data, config := filepath.Join(dir, "history.om"), filepath.Join(dir, "data"), filepath.Join(dir, "prometheus.yml")
	if err := write(input, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", input, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v: %s", err, out)
	}
	if err := os.WriteFile(config, []byte("global:\n  scrape_interval: 15s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return serveTestPrometheus(t, config, data)
}

// memoryOutput is the part of `advise --json` this test reads.
type memoryOutput struct {
	Memory []struct {
		Service   string   `json:"service"`
		Bytes     float64  `json:"bytes"`
		Source    string   `json:"source"`
		Reason    string   `json:"reason"`
		Slope     *float64 `json:"slope_bytes"`
		Processes int      `json:"processes"`
		Samples   int      `json:"samples"`
	} `json:"memory_per_connection"`
}

// TestAdviseMemoryAgainstPrometheus: the memory per connection is measured
// where the recorded RSS follows the connections, and each fall-back says
// why, against a real Prometheus holding a backfilled half hour.
func TestAdviseMemoryAgainstPrometheus(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	prom := backfilledPrometheus(t, writeMemoryHistory)
	args := []string{"advise", "--prometheus", prom, "--window", "29m", "--step", "1m"}
	code, stdout, stderr := runAdviseCLI(t, append(args, "--json")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var out memoryOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ source, reason string }{
		"checkout":  {"measured", "measured: RSS over open connections within 2 process(es), 58 samples"},
		"nomem":     {"memtable", "no process of the service has both an RSS and a connection count in the window"},
		"flat":      {"memtable", "open connections hardly changed within the processes (spread 0.00, need 1)"},
		"shrinking": {"memtable", "-64 KiB ± 0 KiB per connection, outside 1 KiB to 1.0 MiB"},
		"twohosts":  {"memtable", "left out pid 501 (reported by more than one agent: agents on several hosts?)"},
		"daemonset": {"measured", "measured: RSS over open connections within 1 process(es)"},
		"twoinpod":  {"memtable", "left out pod uid-h (2 processes sampled there, none or several with the app's pid 1)"},
	}
	measuredBytes := map[string]float64{"checkout": 24 << 10, "daemonset": 32 << 10}
	if len(out.Memory) != len(want) {
		t.Errorf("memory_per_connection has %d services, want %d:\n%s", len(out.Memory), len(want), stdout)
	}
	for _, m := range out.Memory {
		w, ok := want[m.Service]
		switch {
		case !ok:
			t.Errorf("unexpected service %q", m.Service)
		case m.Source != w.source || !strings.Contains(m.Reason, w.reason):
			t.Errorf("%s: %s %q, want %s and %q", m.Service, m.Source, m.Reason, w.source, w.reason)
		case m.Source == "measured" && math.Abs(m.Bytes-measuredBytes[m.Service]) > 0.05*measuredBytes[m.Service]:
			t.Errorf("%s: %.0f bytes per connection, want %.0f within 5%%: %s", m.Service, m.Bytes, measuredBytes[m.Service], m.Reason)
		case m.Source == "memtable" && m.Bytes != memoryPerConnection:
			t.Errorf("%s: %.0f bytes per connection, want make memtable's %d", m.Service, m.Bytes, memoryPerConnection)
		}
	}
	code, text, stderr := runAdviseCLI(t, args...)
	if code != exitOK || !strings.Contains(text, "checkout: memory per connection 24 KiB, measured: ") ||
		!strings.Contains(text, "nomem: memory per connection 20 KiB, make memtable's figure for a plain connection: no process") {
		t.Errorf("text output: exit %d, stderr %s:\n%s", code, stderr, text)
	}
	t.Logf("poolscope %s\n%s", strings.Join(args, " "), text)

	t.Run("costs use it", func(t *testing.T) {
		f, _, ok := parseAdviseFlags(env{args: args[1:], stderr: &strings.Builder{}})
		if !ok {
			t.Fatal("flags")
		}
		src := newPromSource(f)
		defer src.close()
		pools := []advise.Pool{{Service: "checkout", MemoryPerConnection: memoryPerConnection}, {Service: "flat", MemoryPerConnection: memoryPerConnection}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r, err := advise.Advise(pools, nil, advise.WithMemory(src.memoryPerConnection(ctx, pools)...))
		if err != nil || len(r.Memory) != 2 {
			t.Fatalf("%v, %+v", err, r.Memory)
		}
		if checkout, flat := r.Memory[0], r.Memory[1]; math.Abs(checkout.BytesPerConnection-24<<10) > 0.05*(24<<10) || flat.BytesPerConnection != memoryPerConnection {
			t.Errorf("memory per connection in the report: checkout %.0f, flat %.0f; want 24 KiB and %d",
				checkout.BytesPerConnection, flat.BytesPerConnection, memoryPerConnection)
		}
	})
}
