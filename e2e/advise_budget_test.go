package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/advise"
	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/internal/redistest"
)

// serverBudget is one server's entry of the advice.
type serverBudget struct {
	Server     string `json:"server"`
	MaxClients int    `json:"maxclients"`
	Limit      int    `json:"limit"`
	Before     int    `json:"budget_before"`
	After      int    `json:"budget_after"`
	Fits       bool   `json:"fits"`
	Note       string `json:"note"`
}

// startLoopAgent starts poolscope's agent on the loop's server, every
// second: it reports maxclients, which the fleet budget is checked
// against, and with extra flags such as --discover the processes' RSS and
// connections. The closed loop runs it without discovery (reading every
// process's fds), so that it takes no CPU from the callers it measures.
func startLoopAgent(t *testing.T, s *loopStack, extra ...string) *harness.Process {
	t.Helper()
	agent := exec.Command(s.poolscope, append([]string{"agent", "--interval", "1s", "--redis", s.master.URL()}, extra...)...)
	agent.Env = childEnv(
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+s.collector.OTLPGRPC,
		"OTEL_METRIC_EXPORT_INTERVAL="+exportInterval,
	)
	p, err := harness.StartTest(t, "agent", agent)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// budget is the budget of the server the master pool points at, nil when
// the advice has none or does not know its maxclients yet.
func (a *adviceOutput) budget() *serverBudget {
	m := a.master()
	for i := range a.Servers {
		if m != nil && a.Servers[i].Server == m.Server && a.Servers[i].MaxClients > 0 {
			return &a.Servers[i]
		}
	}
	return nil
}

// growth is the connections the advice adds on the master's server, over
// every process (before any cap); noGrowth the budget after the advice
// with that growth taken back.
func (a *adviceOutput) growth(b serverBudget) (growth, noGrowth int) {
	for _, p := range a.Pools {
		if p.Server == b.Server && p.RecommendedMax > p.Max {
			growth += p.Processes * (p.RecommendedMax - p.Max)
		}
	}
	return growth, b.After - growth
}

// checkBudgetBefore checks the advice's fleet budget for the master's
// server: maxclients as the server says (CONFIG GET), the limit 90% of
// it, the budget now what the recorded maxima of the running workload add
// up to, and the budget after the advice that plus the advised growth
// (less shrinks), within the limit. It returns the budget.
func checkBudgetBefore(t *testing.T, ctx context.Context, s *loopStack, advice adviceOutput, instance string) serverBudget {
	t.Helper()
	b := advice.budget()
	if b == nil {
		t.Fatalf("no budget with maxclients for the master's server in %+v", advice.Servers)
	}
	maxClients := configMaxClients(t, ctx, s)
	recorded, err := recordedBudget(ctx, s, b.Server, instance)
	if err != nil {
		t.Fatal(err)
	}
	var maxes, advised int
	for _, p := range advice.Pools {
		if p.Server == b.Server {
			maxes, advised = maxes+p.Processes*p.Max, advised+p.Processes*p.RecommendedMax
		}
	}
	t.Logf("fleet budget of %s: %d now (recorded maxima of %s: %d), %d after the advice; limit %d of maxclients %d",
		b.Server, b.Before, instance, recorded, b.After, b.Limit, maxClients)
	if b.MaxClients != maxClients || b.Limit != limitOf(maxClients) {
		t.Errorf("budget %+v: want maxclients %d (CONFIG GET) and limit %d", *b, maxClients, limitOf(maxClients))
	}
	if b.Before != recorded {
		t.Errorf("budget before %d, want %d: what %s's pools' maxima and health checks add up to in Prometheus", b.Before, recorded, instance)
	}
	// The connections outside the pools' caps (health checks) stay.
	if want := b.Before - maxes + advised; b.After != want || b.After > b.Limit || !b.Fits {
		t.Errorf("budget after %d (fits %v), want %d (the advised sizes plus the same health checks) within the limit %d", b.After, b.Fits, want, b.Limit)
	}
	return *b
}

// checkBudgetAfter checks that the restarted workload, running the
// advised sizes, records maxima that add up to the budget the advice
// announced.
func checkBudgetAfter(t *testing.T, ctx context.Context, s *loopStack, b serverBudget, instance string) {
	t.Helper()
	var recorded int
	redistest.Eventually(t, 30*time.Second, func() error {
		var err error
		if recorded, err = recordedBudget(ctx, s, b.Server, instance); err != nil {
			return err
		}
		if recorded != b.After {
			return fmt.Errorf("%s's recorded maxima and health checks on %s add up to %d, want the advised budget %d", instance, b.Server, recorded, b.After)
		}
		return nil
	})
	t.Logf("restarted with the advice: %s's recorded budget on %s is %d, as advised, within %d", instance, b.Server, recorded, b.Limit)
}

// recordedBudget is what Prometheus holds for one process of the service on
// one server, over the advice's window: every pool's configured max plus
// one connection per pool with a health check.
func recordedBudget(ctx context.Context, s *loopStack, server, instance string) (int, error) {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return 0, err
	}
	sel := fmt.Sprintf(`{job=%q, instance=%q, server_address=%q, server_port=%q}`, loopService, instance, host, port)
	w := fmt.Sprintf("[%ds]", int(loopWindow.Seconds()))
	q := fmt.Sprintf(`sum(max by (db_client_connection_pool_name) (last_over_time(db_client_connection_max%[1]s%[2]s)))
		+ (count(max by (db_client_connection_pool_name) (last_over_time(redis_client_health_up%[1]s%[2]s))) or vector(0))`, sel, w)
	vec, err := instant(ctx, s.prometheus.API, q)
	if err != nil {
		return 0, err
	}
	sample, err := single(vec, q)
	if err != nil {
		return 0, err
	}
	return int(sample.Value), nil
}

// checkLowMaxClients lowers the server's maxclients twice while the
// undersized workload runs: first so that only half the advised growth
// fits (advise caps the growth to the limit), then below the budget
// without any growth (advise says it does not fit and grows nothing). The
// original maxclients is restored before the workload restarts.
func checkLowMaxClients(t *testing.T, ctx context.Context, s *loopStack, first adviceOutput, b serverBudget) {
	t.Helper()
	original := configMaxClients(t, ctx, s)
	defer func() {
		if err := s.master.Admin().ConfigSet(ctx, "maxclients", strconv.Itoa(original)).Err(); err != nil {
			t.Fatalf("restoring maxclients %d: %v", original, err)
		}
		t.Logf("maxclients restored to %d: the what-ifs end here", original)
	}()
	growth, noGrowth := first.growth(b)
	if growth < 2 {
		t.Fatalf("the advice adds %d connections to %s: nothing to cap", growth, b.Server)
	}
	firstSize := first.master().RecommendedMax

	limit := noGrowth + growth/2
	a, got := adviseAtLimit(t, ctx, s, limit)
	logAdviceText(t, ctx, s, fmt.Sprintf("what-if: maxclients lowered to %d (limit %d), room for half the growth", got.MaxClients, got.Limit))
	m := a.master()
	t.Logf("maxclients %d (limit %d): budget %d -> %d fits %v; master %s %d -> %d capped %v",
		got.MaxClients, got.Limit, got.Before, got.After, got.Fits, m.Verdict, m.Max, m.RecommendedMax, m.CappedByServer)
	// The capped size's wait comes from the model that sized the pool:
	// 8 callers never queue without end, whatever the size.
	if m.ExpectedWaitP99 == nil {
		t.Errorf("capped at %d: no expected wait p99 (the sizing model's wait at the capped size)", m.RecommendedMax)
	}
	if !got.Fits || got.After > limit || !m.CappedByServer || m.RecommendedMax >= firstSize || m.RecommendedMax <= m.Max {
		t.Errorf("with room for %d of %d connections of growth: budget %+v, master %d -> %d capped %v; want it capped between %d and %d, within %d",
			growth/2, growth, got, m.Max, m.RecommendedMax, m.CappedByServer, m.Max, firstSize, limit)
	}

	limit = noGrowth - 1
	a, got = adviseAtLimit(t, ctx, s, limit)
	logAdviceText(t, ctx, s, fmt.Sprintf("what-if: maxclients lowered to %d (limit %d), below the budget without growth", got.MaxClients, got.Limit))
	if got.Fits || got.After != noGrowth || !strings.Contains(got.Note, "even without growth") {
		t.Errorf("with a limit of %d below the budget without growth (%d): %+v; want it reported as not fitting, with no growth", limit, noGrowth, got)
	}
	for _, p := range a.Pools {
		if p.Server == got.Server && p.RecommendedMax > p.Max {
			t.Errorf("%s grows %d -> %d on a server the fleet does not fit", p.Pool, p.Max, p.RecommendedMax)
		}
	}
}

// adviseAtLimit sets maxclients so that the budget limit is limit, then
// runs advise until it reads that maxclients (the agent reports it every
// second) and returns the advice and the server's budget.
func adviseAtLimit(t *testing.T, ctx context.Context, s *loopStack, limit int) (adviceOutput, serverBudget) {
	t.Helper()
	maxClients := int(math.Ceil(float64(limit) / advise.DefaultBudgetFraction))
	for limitOf(maxClients) > limit {
		maxClients--
	}
	if err := s.master.Admin().ConfigSet(ctx, "maxclients", strconv.Itoa(maxClients)).Err(); err != nil {
		t.Fatal(err)
	}
	var advice adviceOutput
	var b *serverBudget
	redistest.Eventually(t, time.Minute, func() error {
		var err error
		if advice, err = adviseJSON(ctx, s); err != nil {
			return err
		}
		if b = advice.budget(); b == nil || b.MaxClients != maxClients || advice.master() == nil {
			return fmt.Errorf("advice does not read maxclients %d yet: %+v", maxClients, advice.Servers)
		}
		return nil
	})
	if b.Limit != limit {
		t.Fatalf("maxclients %d: limit %d, want %d", maxClients, b.Limit, limit)
	}
	return advice, *b
}

func limitOf(maxClients int) int {
	return int(math.Floor(float64(maxClients) * advise.DefaultBudgetFraction))
}

// configMaxClients is the server's maxclients (CONFIG GET).
func configMaxClients(t *testing.T, ctx context.Context, s *loopStack) int {
	t.Helper()
	v, err := s.master.Admin().ConfigGet(ctx, "maxclients").Result()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(v["maxclients"])
	if err != nil {
		t.Fatalf("CONFIG GET maxclients: %v: %v", v, err)
	}
	return n
}
