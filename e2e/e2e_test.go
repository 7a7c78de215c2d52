package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

const (
	// workloadService is the workload's OTEL_SERVICE_NAME: its metrics'
	// job label and the service part of its client names.
	workloadService = "e2e-checkout"
	// agentService is the agent's default service name (its job label).
	agentService = "poolscope-agent"
	// sentinelMaster is the name the Sentinel monitors the master under.
	sentinelMaster = "e2emaster"
	// exportInterval is OTEL_METRIC_EXPORT_INTERVAL (ms) for the workload
	// and the agent, and the agent's --interval: data reaches Prometheus
	// within about three seconds (sample, export, scrape).
	exportInterval = "1000"
	// asyncPoolMin is REDIS_ASYNC_POOL_MIN, the only pool minimum.
	asyncPoolMin = 2
)

// e2eStack is everything the test runs.
type e2eStack struct {
	repo                   string
	master, replica, local *redisserver.Server
	sentinel               *redisserver.Sentinel
	collector              *harness.Collector
	prometheus             *prometheusServer
	workload               *workload
	agent                  *harness.Process
	rules                  *testRules
}

// TestEndToEnd runs the whole pipeline once and checks it from every side.
// The subtests share the processes, so they run in order.
func TestEndToEnd(t *testing.T) {
	// Registered first, so it runs after every other cleanup has stopped
	// its process.
	var groups []int
	var groupsMu sync.Mutex
	addGroup := func(pid int) { groupsMu.Lock(); groups = append(groups, pid); groupsMu.Unlock() }
	var stopping time.Time
	t.Cleanup(func() {
		if !stopping.IsZero() {
			t.Logf("every process stopped in %s", time.Since(stopping).Round(100*time.Millisecond))
		}
		checkNoLeftovers(t, groups)
	})

	ctx := redistest.Context(t, 5*time.Minute)
	s := startStack(t, addGroup, &stopping)

	t.Run("data arrives", func(t *testing.T) { waitForData(t, ctx, s) })
	if t.Failed() {
		t.FailNow() // nothing else can pass without data
	}
	t.Run("dashboards", func(t *testing.T) { checkDashboards(t, ctx, s) })

	// The cross-checks compare counts that only settle when the pools stop
	// dialling and closing connections.
	if _, err := s.workload.do("quiet"); err != nil {
		t.Fatal(err)
	}
	if addr, err := s.sentinel.MasterAddr(ctx); err != nil || addr != s.master.Addr() {
		t.Fatalf("the Sentinel names %q (%v) as master, not %s: a failover swapped the servers' roles", addr, err, s.master.Addr())
	}
	t.Run("pool connections: client side vs CLIENT LIST vs agent", func(t *testing.T) { checkPoolConnections(t, ctx, s) })
	t.Run("server clients: agent vs INFO clients and CLIENT LIST", func(t *testing.T) { checkServerClients(t, ctx, s) })
	t.Run("process connections: agent /proc scan vs CLIENT LIST", func(t *testing.T) { checkProcessConnections(t, ctx, s) })
	t.Run("process memory: agent vs /proc", func(t *testing.T) { checkProcessMemory(t, ctx, s) })
	t.Run("alerts: a stopped Redis fires the health-check alerts", func(t *testing.T) { checkHealthAlerts(t, ctx, s) })
}

func startStack(t *testing.T, addGroup func(pid int), stopping *time.Time) *e2eStack {
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &e2eStack{repo: repo}

	// The slow parts run side by side: the collector (cached after its
	// first build), the Go binaries, the Redis servers.
	var binDir, collectorBin string
	var buildErr, collectorErr error
	var wg sync.WaitGroup
	wg.Add(2)
	var buildTime time.Duration
	start := time.Now()
	go func() { defer wg.Done(); collectorBin, collectorErr = harness.CollectorBinary(repo, "") }()
	go func() {
		defer wg.Done()
		// Each binary is built in its own module: poolscope with the
		// product's requirements, the workload with the harness's.
		binDir = t.TempDir()
		if _, buildErr = harness.GoBuild(binDir, repo, "./cmd/poolscope"); buildErr == nil {
			_, buildErr = harness.GoBuild(binDir, filepath.Join(repo, "e2e"), "./internal/workload")
		}
		buildTime = time.Since(start)
	}()
	// A Fatal below still waits for the builds, so that none outlives
	// the test.
	defer wg.Wait()
	s.master = redistest.Start(t, redisserver.Options{})
	s.replica = redistest.Start(t, redisserver.Options{ReplicaOf: s.master})
	s.local = redistest.Start(t, redisserver.Options{UnixSocket: true})
	s.sentinel = redistest.StartSentinel(t, s.master, sentinelMaster)
	for _, srv := range []*redisserver.Server{s.master, s.replica, s.local, s.sentinel.Server} {
		addGroup(srv.Pid())
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.sentinel.WaitReplicas(wctx, 1); err != nil {
		t.Fatal(err)
	}
	// redisserver's Sentinel declares the master down after 1 s, for
	// failover tests. On a loaded machine a master can miss that, and a
	// failover would swap the servers' roles under the cross-checks; this
	// test fails nothing over, so give the master a minute.
	sc := s.sentinel.SentinelClient()
	err = sc.Set(wctx, sentinelMaster, "down-after-milliseconds", "60000").Err()
	sc.Close()
	if err != nil {
		t.Fatalf("sentinel set down-after-milliseconds: %v", err)
	}
	wg.Wait()
	if collectorErr != nil {
		t.Fatal(collectorErr)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Logf("collector binary: %s; go build of poolscope and the workload took %s; Redis servers up", collectorBin, buildTime.Round(100*time.Millisecond))

	s.collector = startGateway(t, repo, collectorBin, addGroup)
	s.rules = writeTestRules(t, filepath.Join(repo, "collector-config", "prometheus", "alerts.yml"))
	s.prometheus = startPrometheus(t, s.collector.Metrics, s.rules.path)
	addGroup(s.prometheus.Pid())

	s.workload = startWorkload(t, filepath.Join(binDir, "workload"), childEnv(
		"OTEL_SERVICE_NAME="+workloadService,
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+s.collector.OTLPHTTP,
		"OTEL_METRIC_EXPORT_INTERVAL="+exportInterval,
		// Master and replica pools follow the Sentinel; the async pool
		// follows the master; the local pool is a unix socket.
		"REDIS_SENTINEL_ADDRS="+s.sentinel.Addr(),
		"REDIS_SENTINEL_MASTER="+sentinelMaster,
		"REDIS_MASTER_URL="+s.master.URL(),
		"REDIS_LOCAL_URL=unix://"+s.local.Socket,
		// Six writers share four master connections, so callers wait.
		"REDIS_MASTER_POOL_SIZE=4",
		"REDIS_SLAVE_POOL_SIZE=6",
		"REDIS_LOCAL_POOL_SIZE=3",
		"REDIS_ASYNC_POOL_MIN="+strconv.Itoa(asyncPoolMin),
		"REDIS_ASYNC_POOL_MAX=4",
		// Connections are recycled every few seconds while busy, so that
		// lifetimes and close reasons have data within the test.
		"REDIS_POOL_MAX_LIFETIME=4s",
		"REDIS_HEALTH_CHECK_INTERVAL=1s",
	))
	addGroup(s.workload.Pid())
	t.Logf("workload pid %d, pools %+v", s.workload.ready.Pid, s.workload.ready.Pools)

	// The agent finds the workload (and every other process connected to
	// the servers) in /proc. Pools that follow Sentinel are not watched
	// by the agent, so the servers are given explicitly.
	agent := exec.Command(filepath.Join(binDir, "poolscope"), "agent",
		"--discover", "--discover-every", "2", "--interval", "1s", "--pss",
		"--redis", s.master.URL(), "--redis", s.replica.URL(), "--redis", "unix://"+s.local.Socket)
	agent.Env = childEnv(
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+s.collector.OTLPGRPC,
		"OTEL_METRIC_EXPORT_INTERVAL="+exportInterval,
	)
	if s.agent, err = harness.StartTest(t, "agent", agent); err != nil {
		t.Fatal(err)
	}
	addGroup(s.agent.Pid())
	t.Logf("every process started %s after the test began", time.Since(start).Round(100*time.Millisecond))
	// Runs first, while the logs still exist: the stops follow.
	t.Cleanup(func() {
		*stopping = time.Now()
		if t.Failed() {
			for _, p := range []*harness.Process{s.agent, s.workload.Process, s.collector.Process(), s.prometheus.Process} {
				if p != nil {
					t.Logf("%s's log, last lines: %s", p.Name, p.LogTail(25))
				}
			}
		}
	})
	return s
}

// startGateway starts the collector binary with
// collector-config/gateway.yaml, stopped at the test's cleanup.
func startGateway(t *testing.T, repo, binary string, addGroup func(pid int)) *harness.Collector {
	t.Helper()
	c, err := harness.StartCollector(harness.CollectorOptions{
		Binary: binary, Config: filepath.Join(repo, "collector-config", "gateway.yaml"), Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	addGroup(c.Pid())
	return c
}

// childEnv is the test's environment without any REDIS_* or OTEL_*
// variable (a developer's own settings must not leak into the children),
// plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REDIS_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// waitForData polls until Prometheus has series from both senders: the
// workload's pools and the agent's server and process views.
func waitForData(t *testing.T, ctx context.Context, s *e2eStack) {
	pid := strconv.Itoa(s.workload.ready.Pid)
	queries := []string{
		`db_client_connection_count{job="` + workloadService + `"}`,
		`redis_client_health_up{job="` + workloadService + `"}`,
		`redis_clients_connected{job="` + agentService + `"}`,
		`poolscope_server_connections{poolscope_client_service="` + workloadService + `"}`,
		`process_memory_usage_bytes{process_pid="` + pid + `"}`,
	}
	start := time.Now()
	redistest.Eventually(t, 60*time.Second, func() error {
		for _, q := range queries {
			vec, err := instant(ctx, s.prometheus.API, q)
			if err != nil {
				return err
			}
			if len(vec) == 0 {
				return fmt.Errorf("no data yet for %s; workload running %v, agent running %v", q, s.workload.Running(), s.agent.Running())
			}
		}
		return nil
	})
	t.Logf("workload and agent data in Prometheus %s after they started", time.Since(start).Round(100*time.Millisecond))
}

// checkNoLeftovers fails the test if any process it started (or anything
// those left in their process groups) is still alive after the cleanups,
// and kills them so that they do not outlive a failed run.
func checkNoLeftovers(t *testing.T, groups []int) {
	left, err := harness.Leftovers(os.Getpid(), groups)
	if err != nil {
		t.Error(err)
		return
	}
	if len(left) > 0 {
		t.Errorf("processes left behind after cleanup: %v", left)
		for _, c := range left {
			_ = syscall.Kill(c.Pid, syscall.SIGKILL)
		}
		return
	}
	t.Logf("no process left behind: no child of pid %d, nothing in the %d process groups the test started", os.Getpid(), len(groups))
}
