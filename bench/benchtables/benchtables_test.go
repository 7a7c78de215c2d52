package benchtables

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestMain fails the package when a test leaves a goroutine behind (a
// child's waiter, an HTTP connection), and removes the poolscope binary
// the tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// build is the poolscope binary, built once for every test.
var build struct {
	once      sync.Once
	dir, root string
	poolscope string
	err       error
}

// binaries builds poolscope (once) and, with collector, finds or builds
// the hostmetrics collector (cached by scripts/build-collector.sh; a cold
// build takes minutes).
func binaries(t *testing.T, collector bool) (poolscope, otelcol string) {
	t.Helper()
	build.once.Do(func() {
		if build.root, build.err = harness.RepoRoot(); build.err != nil {
			return
		}
		if build.dir, build.err = os.MkdirTemp("", "poolscope-benchtables-test-"); build.err != nil {
			return
		}
		build.poolscope, build.err = harness.BuildPoolscope(build.root, build.dir)
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	poolscope = build.poolscope
	var err error
	if collector {
		if otelcol, err = harness.CollectorBinary(build.root, HostmetricsManifest); err != nil {
			t.Fatal(err)
		}
	}
	return poolscope, otelcol
}

// TestAgentCostSmoke runs the agent-cost table at 5 processes for a short
// window and checks its structure, not its figures.
func TestAgentCostSmoke(t *testing.T) {
	poolscope, otelcol := binaries(t, true)
	rows, err := AgentCost(redistest.Context(t, 5*time.Minute), AgentCostConfig{
		Sizes: []int{5}, Window: 2 * time.Second, Interval: time.Second,
		Poolscope: poolscope, Collector: otelcol,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{SamplerPoolscope, SamplerPoolscopeNone, SamplerPoolscopeUnix, SamplerHostmetricsMem, SamplerHostmetrics}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, r := range rows {
		if r.Sampler != want[i] || r.Processes != 5 {
			t.Errorf("row %d: %s with %d processes, want %s with 5", i, r.Sampler, r.Processes, want[i])
		}
		wantSeen := 5
		if r.Sampler == SamplerPoolscopeNone || r.Sampler == SamplerPoolscopeUnix {
			wantSeen = -1 // no exporter: cannot tell
		}
		if r.Seen != wantSeen {
			t.Errorf("%s saw %d of 5 processes, want %d", r.Sampler, r.Seen, wantSeen)
		}
		if r.CPU < 0 || r.RSS == 0 || r.PeakRSS < r.RSS {
			t.Errorf("%s: CPU %.3fs, RSS %d, peak %d", r.Sampler, r.CPU, r.RSS, r.PeakRSS)
		}
		if r.Passes() != 2 {
			t.Errorf("%s: %.1f passes in 2s at 1s, want 2", r.Sampler, r.Passes())
		}
	}
	var out bytes.Buffer
	PrintAgentCost(&out, rows)
	for _, s := range []string{"us/pass/proc", "hostmetrics memory-only", "agent: processes=5 hostmetrics/poolscope="} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("no %q in the table:\n%s", s, out.String())
		}
	}
}

// TestServerImpactSmoke runs the server table at 20 and 50 clients.
func TestServerImpactSmoke(t *testing.T) {
	poolscope, _ := binaries(t, false)
	rows, err := ServerImpact(redistest.Context(t, 5*time.Minute), ServerImpactConfig{
		Sizes: []int{50, 20}, Window: 2 * time.Second, Calls: 3, Poolscope: poolscope,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Clients != 20 || rows[1].Clients != 50 {
		t.Fatalf("rows %+v, want 20 then 50 clients", rows)
	}
	for _, r := range rows {
		if r.UsecPerCall <= 0 || r.ReplyBytes < 50*r.Clients || r.AgentUsec < 0 || r.AgentPasses < 0 ||
			r.CPUUsecPerCall < 0 || r.InfoCPUUsecPerCal < 0 || r.AgentThreadShare() < 0 || r.ForcedThreadShare() < 0 {
			t.Errorf("%d clients: %+v", r.Clients, r)
		}
	}
	if rows[1].ReplyBytes <= rows[0].ReplyBytes {
		t.Errorf("CLIENT LIST reply %d bytes at 50 clients, %d at 20", rows[1].ReplyBytes, rows[0].ReplyBytes)
	}
	var out bytes.Buffer
	PrintServerImpact(&out, rows)
	if !strings.Contains(out.String(), "server: clients=50 client_list_cpu_usec=") {
		t.Errorf("no summary line for 50 clients:\n%s", out.String())
	}
}

// TestDiscoveryCostSmoke runs the discovery table with 6 holders, spread
// over 3 namespaces in the second layout, and checks its structure and
// that no holder, namespace or agent is left (as root, as on CI).
func TestDiscoveryCostSmoke(t *testing.T) {
	poolscope, _ := binaries(t, false)
	rows, err := DiscoveryCost(redistest.Context(t, 5*time.Minute), DiscoveryCostConfig{
		Processes: 6, Namespaces: 3, Passes: 2, Window: 2 * time.Second, Poolscope: poolscope,
	})
	if err != nil {
		t.Fatal(err)
	}
	ways := []string{ReadGlobal, ReadPerNamespace, ReadPerProcess, ReadAgentPass}
	if len(rows) != 2*len(ways) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), 2*len(ways), rows)
	}
	for i, r := range rows {
		netns := []int{1, 3}[i/len(ways)]
		if r.Read != ways[i%len(ways)] || r.Processes != 6 || r.Namespaces != netns || r.CPU < 0 {
			t.Errorf("row %d: %+v, want %s, 6 processes in %d namespaces", i, r, ways[i%len(ways)], netns)
		}
		switch r.Read {
		case ReadPerNamespace:
			if r.Tables != netns {
				t.Errorf("per-namespace read of %d namespaces read %d tables", netns, r.Tables)
			}
		case ReadPerProcess:
			if r.Tables != 6 || r.Passes != 1 {
				t.Errorf("per-process read: %d tables in %.0f passes, want 6 in 1", r.Tables, r.Passes)
			}
		case ReadAgentPass:
			if r.Seen != 6 || r.Tables < netns {
				t.Errorf("agent: saw %d of 6 holders, %d namespaces on the machine", r.Seen, r.Tables)
			}
		}
	}
	if pids, err := processesNamed(HolderName); err != nil || len(pids) != 0 {
		t.Errorf("holders left: %v %v", pids, err)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err != nil || strings.Contains(string(out), fmt.Sprintf("psbench-%d-", os.Getpid())) {
		t.Errorf("namespaces left: %s %v", out, err)
	}
	var out bytes.Buffer
	PrintDiscoveryCost(&out, rows)
	if !strings.Contains(out.String(), ReadPerNamespace) || !strings.Contains(out.String(), "CPU us/proc") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestParseStatsErrors(t *testing.T) {
	for _, tc := range []struct{ name, info, want string }{
		{"bad clients", "connected_clients:x\r\n", `connected_clients="x"`},
		{"bad usec", "cmdstat_info:calls=1,usec=y,usec_per_call=1\r\n", `usec="y"`},
		{"no cpu", "connected_clients:3\r\n", "lacks connected_clients or used_cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStats(tc.info)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLastResourceCount(t *testing.T) {
	out := `2026-11-26T01:00:00Z	info	Metrics	{"resource metrics": 4, "metrics": 8, "data points": 8}
2026-11-26T01:00:01Z	info	Metrics	{"resource metrics": 5, "metrics": 10, "data points": 10}
`
	if n, ok := lastResourceCount(out); !ok || n != 5 {
		t.Fatalf("lastResourceCount = %d, %v; want 5, true", n, ok)
	}
	if _, ok := lastResourceCount("starting"); ok {
		t.Fatal("a count found in output without one")
	}
}
