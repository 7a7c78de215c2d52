package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// The closed loop's shape: loopCallers callers that never pause share a
// master pool of loopUndersized connections; advise reads loopWindow in
// intervals of loopStep (ten, the least it accepts; three scrapes each)
// against a wait p99 target of loopTarget (a command holds a connection
// for 50 to 150 us here, so the undersized pool's callers wait several
// times that, and a pool with a connection per caller hardly at all).
const (
	loopService    = "e2e-advise"
	loopUndersized = 2
	loopCallers    = 8
	loopTarget     = 250 * time.Microsecond
	loopWindow     = 30 * time.Second
	loopStep       = 3 * time.Second
	// loopRate is the rate window of the wait p99 checked after the
	// restart: every sample in it comes from the restarted workload.
	loopRate = 10 * time.Second
)

// adviceOutput is the part of `poolscope advise --json` the test reads.
type adviceOutput struct {
	Target  float64             `json:"wait_p99_target_seconds"`
	Pools   []poolAdvice        `json:"pools"`
	Servers []serverBudget      `json:"servers"`
	Memory  []memoryEntry       `json:"memory_per_connection"`
	Env     map[string][]string `json:"env"`
}

// poolAdvice is one pool's entry of the advice.
type poolAdvice struct {
	Service         string   `json:"service"`
	Pool            string   `json:"pool"`
	Server          string   `json:"server"`
	Processes       int      `json:"processes"`
	Verdict         string   `json:"verdict"`
	Reason          string   `json:"reason"`
	Max             int      `json:"max"`
	RecommendedMax  int      `json:"recommended_max"`
	CappedByServer  bool     `json:"capped_by_server"`
	WaitP99         *float64 `json:"wait_p99_seconds"`
	ExpectedWaitP99 *float64 `json:"expected_wait_p99_seconds"`
	DeltaConns      *float64 `json:"delta_connections_per_process"`
}

// loopStack is what the closed loop runs besides the workload.
type loopStack struct {
	master     *redisserver.Server
	prometheus *prometheusServer
	collector  *harness.Collector
	agent      *harness.Process // reports maxclients (the budget); with --discover, the workload's RSS
	poolscope  string           // the built binary
	workload   string           // the built binary
}

// TestAdviseClosedLoop proves the advice on a real pipeline (issue 12): a
// workload whose master pool is too small for its callers exports through
// the collector to Prometheus; `poolscope advise --prometheus` says grow;
// the workload, restarted with the advised REDIS_* lines and the same
// callers, then meets the wait p99 target advise used, and once saturated
// holds exactly the advised number of master connections on the server
// (CLIENT LIST). The fleet budget advise reports for the server, before and
// after, is what the recorded pool maxima of the running workload add up to
// and stays within 90% of maxclients; with maxclients lowered, growth is
// capped to fit, and a fleet that cannot fit is reported as such.
func TestAdviseClosedLoop(t *testing.T) {
	addGroup := trackGroups(t)
	ctx := redistest.Context(t, 6*time.Minute)
	s := startLoopStack(t, addGroup)

	// 1. Undersized: callers wait. The advice printed here (its
	// ready-to-paste block) is what the workload restarts with.
	first := startLoopWorkload(t, s, "run-1", []string{"REDIS_MASTER_POOL_SIZE=" + strconv.Itoa(loopUndersized)}, addGroup)
	loadStart := time.Now()
	advice, env := waitForGrowAdvice(t, ctx, s, loadStart)
	master := advice.master()
	if master.WaitP99 == nil || *master.WaitP99 <= advice.Target {
		t.Fatalf("the undersized master pool's wait p99 is %s, within the target %s: the loop would prove nothing",
			fmtSeconds(master.WaitP99), fmtSeconds(&advice.Target))
	}
	if master.ExpectedWaitP99 == nil || *master.ExpectedWaitP99 > advice.Target {
		t.Fatalf("the advice expects a wait p99 of %s at %d, not within the target %s: it promises nothing to check",
			fmtSeconds(master.ExpectedWaitP99), master.RecommendedMax, fmtSeconds(&advice.Target))
	}
	// The server-side count checked last is the printed conns/proc change.
	if master.DeltaConns == nil || master.Max+int(*master.DeltaConns) != master.RecommendedMax {
		t.Fatalf("master %d -> %d, but %s connections per process", master.Max, master.RecommendedMax, fmtCount(master.DeltaConns))
	}
	t.Logf("advice for master after %s of load: %s %d -> %d (wait p99 %s, expected %s, target %s): %s; env %v",
		time.Since(loadStart).Round(time.Second), master.Verdict, master.Max, master.RecommendedMax,
		fmtSeconds(master.WaitP99), fmtSeconds(master.ExpectedWaitP99), fmtSeconds(&advice.Target), master.Reason, env)
	budget := checkBudgetBefore(t, ctx, s, advice, "run-1")
	// What-ifs on the same data, maxclients restored after them: they do
	// not change what the workload restarts with.
	checkLowMaxClients(t, ctx, s, advice, budget)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	// 2. Restarted with the printed block and the same callers: the wait
	// p99 meets the target (the advice expected it within), and the
	// recorded budget is the one the advice announced.
	t.Logf("restarting with the block step 1 printed: %v", env)
	second := startLoopWorkload(t, s, "run-2", env, addGroup)
	checkWaitMeetsTarget(t, ctx, s, "run-2", master.RecommendedMax, advice.Target)
	checkBudgetAfter(t, ctx, s, budget, "run-2")

	// 3. Saturated: the pool holds exactly the advised connections.
	if _, err := second.do(fmt.Sprintf("callers %d", master.RecommendedMax+loopCallers)); err != nil {
		t.Fatal(err)
	}
	checkServerConnections(t, ctx, s, second, master.RecommendedMax)
}

// startLoopStack builds poolscope and the workload, finds the collector
// and starts redis-server, the collector, Prometheus and the agent (with
// agentFlags).
func startLoopStack(t *testing.T, addGroup func(pid int), agentFlags ...string) *loopStack {
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	var collectorBin string
	var buildErr, collectorErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); collectorBin, collectorErr = harness.CollectorBinary(repo, "") }()
	go func() {
		defer wg.Done()
		if _, buildErr = harness.GoBuild(binDir, repo, "./cmd/poolscope"); buildErr == nil {
			_, buildErr = harness.GoBuild(binDir, filepath.Join(repo, "e2e"), "./internal/workload")
		}
	}()
	defer wg.Wait() // a Fatal below still waits for the builds
	s := &loopStack{master: redistest.Start(t, redisserver.Options{}),
		poolscope: filepath.Join(binDir, "poolscope"), workload: filepath.Join(binDir, "workload")}
	addGroup(s.master.Pid())
	wg.Wait()
	if collectorErr != nil {
		t.Fatal(collectorErr)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	s.collector = startGateway(t, repo, collectorBin, addGroup)
	s.prometheus = startPrometheus(t, s.collector.Metrics)
	addGroup(s.prometheus.Pid())
	s.agent = startLoopAgent(t, s, agentFlags...)
	addGroup(s.agent.Pid())
	return s
}

// startLoopWorkload starts the workload with every pool on the one server
// and the pool sizes of sizes, stops its usual traffic (whose pipelines
// and pauses would blur the demand) and starts loopCallers callers of the
// master pool.
func startLoopWorkload(t *testing.T, s *loopStack, instance string, sizes []string, addGroup func(pid int)) *workload {
	t.Helper()
	w := startWorkload(t, s.workload, childEnv(append([]string{
		"OTEL_SERVICE_NAME=" + loopService,
		"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=" + instance,
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + s.collector.OTLPHTTP,
		"OTEL_METRIC_EXPORT_INTERVAL=" + exportInterval,
		"REDIS_MASTER_URL=" + s.master.URL(),
		"REDIS_LOCAL_URL=" + s.master.URL(),
	}, sizes...)...))
	addGroup(w.Pid())
	for _, cmd := range []string{"quiet", "callers " + strconv.Itoa(loopCallers)} {
		if _, err := w.do(cmd); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("workload %s (pid %d) runs %d callers of the master pool with %v", instance, w.ready.Pid, loopCallers, sizes)
	return w
}

// waitForGrowAdvice runs `poolscope advise` until it tells the master pool
// to grow, after at least two thirds of the window under load (the first
// runs see no data, then too few intervals), and its printed output's
// ready-to-paste block agrees with the JSON advice taken just before (the
// data may move between the two runs: then both are taken again). It logs
// the printed output and returns the advice and the block's lines.
func waitForGrowAdvice(t *testing.T, ctx context.Context, s *loopStack, loadStart time.Time) (adviceOutput, []string) {
	t.Helper()
	var advice adviceOutput
	var text []byte
	var env []string
	redistest.Eventually(t, 2*time.Minute, func() error {
		var err error
		if advice, err = adviseJSON(ctx, s); err != nil {
			return err
		}
		m := advice.master()
		switch {
		case m == nil:
			return fmt.Errorf("no master pool of %s in %+v", loopService, advice.Pools)
		case m.Verdict != "grow":
			return fmt.Errorf("master: %s %d -> %d: %s", m.Verdict, m.Max, m.RecommendedMax, m.Reason)
		case advice.budget() == nil:
			return fmt.Errorf("no maxclients (the agent's) for the master's server yet: %+v", advice.Servers)
		case time.Since(loadStart) < 2*loopWindow/3:
			return fmt.Errorf("%s of load, want %s", time.Since(loadStart).Round(time.Second), 2*loopWindow/3)
		}
		if text, err = runAdvise(ctx, s); err != nil {
			return err
		}
		env = printedEnv(text)
		if want := jsonEnv(advice); !slices.Equal(env, want) {
			return fmt.Errorf("the printed block %q differs from the JSON's %q taken just before", env, want)
		}
		return nil
	})
	logAdvice(t, "1. undersized (the advice the workload restarts with)", text)
	m := advice.master()
	if m.Max != loopUndersized || m.RecommendedMax < loopCallers {
		t.Fatalf("master: max %d advised %d, want %d and at least the %d callers", m.Max, m.RecommendedMax, loopUndersized, loopCallers)
	}
	if want := fmt.Sprintf("REDIS_MASTER_POOL_SIZE=%d", m.RecommendedMax); !slices.Contains(env, want) {
		t.Fatalf("printed lines %q lack %s", env, want)
	}
	return advice, env
}

// logAdvice logs the table `poolscope advise` printed at one step of the
// loop: a real output for the docs.
func logAdvice(t *testing.T, step string, text []byte) {
	t.Helper()
	t.Logf("%s: poolscope advise --prometheus URL --service %s --window %s --step %s --wait-p99 %s:\n%s",
		step, loopService, loopWindow, loopStep, loopTarget, text)
}

// logAdviceText runs `poolscope advise` and logs what it prints (logAdvice).
func logAdviceText(t *testing.T, ctx context.Context, s *loopStack, step string) {
	t.Helper()
	out, err := runAdvise(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	logAdvice(t, step, out)
}

// runAdvise runs the built `poolscope advise` with the loop's flags and
// extra on the test's Prometheus and returns its stdout.
func runAdvise(ctx context.Context, s *loopStack, extra ...string) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := append([]string{"advise", "--prometheus", s.prometheus.URL, "--service", loopService,
		"--window", loopWindow.String(), "--step", loopStep.String(), "--wait-p99", loopTarget.String()}, extra...)
	cmd := exec.CommandContext(actx, s.poolscope, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %v: %s", cmd.Args, err, stderr.String())
	}
	return out, nil
}

// adviseJSON runs `poolscope advise --json` as runAdvise does and decodes
// its output.
func adviseJSON(ctx context.Context, s *loopStack, extra ...string) (adviceOutput, error) {
	out, err := runAdvise(ctx, s, append(extra, "--json")...)
	if err != nil {
		return adviceOutput{}, err
	}
	var advice adviceOutput
	if err := json.Unmarshal(out, &advice); err != nil {
		return adviceOutput{}, fmt.Errorf("advise --json: %v:\n%s", err, out)
	}
	return advice, nil
}

// trackGroups returns the function that records a started process's
// group; at the test's end, none of them may be left behind.
func trackGroups(t *testing.T) func(pid int) {
	var groups []int
	var mu sync.Mutex
	t.Cleanup(func() { checkNoLeftovers(t, groups) })
	return func(pid int) { mu.Lock(); groups = append(groups, pid); mu.Unlock() }
}

// master is the service's master pool, nil when the advice has none.
func (a *adviceOutput) master() *poolAdvice {
	for i := range a.Pools {
		if a.Pools[i].Service == loopService && a.Pools[i].Pool == "master" {
			return &a.Pools[i]
		}
	}
	return nil
}

// printedEnv is the variable lines of the service's ready-to-paste block
// in `poolscope advise`'s printed output: the lines after "# SERVICE" up
// to the next blank line, without comments.
func printedEnv(text []byte) []string {
	var env []string
	in := false
	for _, line := range strings.Split(string(text), "\n") {
		switch {
		case line == "# "+loopService:
			in = true
		case !in || strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			in = false
		default:
			env = append(env, line)
		}
	}
	return env
}

// jsonEnv is the service's block in the JSON advice, without comments.
func jsonEnv(a adviceOutput) []string {
	var env []string
	for _, line := range a.Env[loopService] {
		if !strings.HasPrefix(line, "#") {
			env = append(env, line)
		}
	}
	return env
}

// checkWaitMeetsTarget waits until Prometheus holds loopRate of the
// restarted workload's data, then checks once that its master pool's wait
// p99 over that span is within target.
func checkWaitMeetsTarget(t *testing.T, ctx context.Context, s *loopStack, instance string, size int, target float64) {
	t.Helper()
	sel := fmt.Sprintf(`{job=%q, instance=%q, db_client_connection_pool_name="master"}`, loopService, instance)
	rate := fmt.Sprintf("[%ds]", int(loopRate.Seconds()))
	covered := fmt.Sprintf("count_over_time(db_client_connection_max%s%s)", sel, rate)
	redistest.Eventually(t, time.Minute, func() error {
		vec, err := instant(ctx, s.prometheus.API, covered)
		if err != nil {
			return err
		}
		// One sample a second once the restarted workload's data arrive.
		if len(vec) != 1 || float64(vec[0].Value) < loopRate.Seconds()-1 {
			return fmt.Errorf("%s = %v, want %d samples", covered, vec, int(loopRate.Seconds())-1)
		}
		return nil
	})
	vec, err := instant(ctx, s.prometheus.API, "db_client_connection_max"+sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(vec) != 1 || int(vec[0].Value) != size {
		t.Fatalf("restarted master pool's max: %v, want %d", vec, size)
	}
	p99 := fmt.Sprintf("histogram_quantile(0.99, sum by (le) (rate(db_client_connection_wait_time_seconds_bucket%s%s)))", sel, rate)
	waits := fmt.Sprintf("sum(rate(db_client_connection_wait_time_seconds_count%s%s))", sel, rate)
	got := map[string]float64{}
	for _, q := range []string{p99, waits} {
		vec, err := instant(ctx, s.prometheus.API, q)
		if err != nil {
			t.Fatal(err)
		}
		sample, err := single(vec, q)
		if err != nil {
			t.Fatal(err)
		}
		got[q] = float64(sample.Value)
	}
	t.Logf("restarted at size %d: wait p99 %s over the last %s (%.0f connection checkouts/s), target %s",
		size, fmtSeconds(ptr(got[p99])), loopRate, got[waits], fmtSeconds(&target))
	if got[waits] <= 0 || !(got[p99] <= target) {
		t.Errorf("restarted master pool: wait p99 %v s at %.0f checkouts/s, want within the target %v s", got[p99], got[waits], target)
	}
}

// checkServerConnections polls the server's CLIENT LIST until the
// saturated master pool's connections (its client name's, less the
// pub/sub and pipeline connections the pool does not bound) are exactly
// size, and checks that the pool's own count agrees.
func checkServerConnections(t *testing.T, ctx context.Context, s *loopStack, w *workload, size int) {
	t.Helper()
	var line string
	redistest.Eventually(t, 30*time.Second, func() error {
		stats, err := w.do("stats")
		if err != nil {
			return err
		}
		c := stats.Pools["master"]
		listed, err := s.master.ClientsByName(ctx)
		if err != nil {
			return err
		}
		pooled := listed[c.Name] - c.PubSub - c.Pipeline
		line = fmt.Sprintf("CLIENT LIST %s: %d (pub/sub %d, pipeline %d): %d pooled; PoolStats regular %d; advised %d",
			c.Name, listed[c.Name], c.PubSub, c.Pipeline, pooled, c.Regular, size)
		if pooled != size || c.Regular != size {
			return fmt.Errorf("%s", line)
		}
		return nil
	})
	t.Log(line)
}

func ptr(f float64) *float64 { return &f }

// fmtCount shows a count of the advice, "unknown" for null.
func fmtCount(f *float64) string {
	if f == nil {
		return "unknown"
	}
	return fmt.Sprintf("%+g", *f)
}

// fmtSeconds shows a figure of the advice, "unknown" for null.
func fmtSeconds(s *float64) string {
	if s == nil {
		return "unknown"
	}
	return time.Duration(*s * float64(time.Second)).String()
}
