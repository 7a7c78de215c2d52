package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/agent"
	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// adviseScrape is the test Prometheus's scrape and rule interval: short, so
// that a window of seconds holds enough intervals.
const adviseScrape = 500 * time.Millisecond

// startTestPrometheus starts Debian's prometheus on a free loopback port,
// scraping the targets every adviseScrape as job `job` with honor_labels (as
// collector-config/prometheus/prometheus.yml does), and waits until it is
// ready. A missing binary is a failure.
func startTestPrometheus(t *testing.T, job string, targets ...string) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf("global:\n  scrape_interval: %[1]s\n  evaluation_interval: %[1]s\nscrape_configs:\n"+
		"  - job_name: %[2]q\n    honor_labels: true\n    static_configs:\n      - targets: [%[3]s]\n", adviseScrape, job, quoteList(targets))
	if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return serveTestPrometheus(t, config, filepath.Join(dir, "data"))
}

// serveTestPrometheus starts Debian's prometheus with the configuration
// file and the TSDB directory given, on a free loopback port, and waits
// until it is ready; it returns its base URL. A port that was free a
// moment ago may be taken by a listener of a test package running in
// parallel before Prometheus binds it; Prometheus then exits, and it is
// started again on another port, up to prometheusAttempts times.
func serveTestPrometheus(t *testing.T, config, data string) string {
	t.Helper()
	binary, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found in PATH: apt-get install -y --no-install-recommends prometheus (or make deps)")
	}
	for attempt := 1; ; attempt++ {
		base, err := startPrometheusOnce(t, binary, config, data)
		if err == nil {
			return base
		}
		if attempt == prometheusAttempts {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v", attempt, err)
	}
}

const (
	prometheusAttempts = 3
	// prometheusReady bounds one start: a loaded 2-core machine starts
	// Prometheus in a few seconds.
	prometheusReady = 30 * time.Second
)

// startPrometheusOnce starts prometheus on a free loopback port and polls
// its /-/ready until it answers 200 OK (its base URL), the process exits
// or prometheusReady passes (an error with its log). The process is
// killed at cleanup.
func startPrometheusOnce(t *testing.T, binary, config, data string) (string, error) {
	addr := freeLoopbackAddr(t)
	var log redistest.Buffer
	cmd := exec.Command(binary, "--config.file="+config, "--storage.tsdb.path="+data, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(prometheusReady)
	for {
		err := prometheusIsReady(client, base)
		if err == nil {
			return base, nil
		}
		select {
		case <-exited:
			return "", fmt.Errorf("prometheus on %s exited before it was ready: %s", addr, log.String())
		case <-time.After(20 * time.Millisecond): // polling with a deadline
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("prometheus on %s not ready after %v: %v; log: %s", addr, prometheusReady, err, log.String())
		}
	}
}

// prometheusIsReady is nil when GET base/-/ready answers 200 OK.
func prometheusIsReady(client *http.Client, base string) error {
	resp, err := client.Get(base + "/-/ready")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/-/ready: %s", resp.Status)
	}
	return nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// adviseLoad is the callers of one test process, each started with wg.Go
// and stopping when ctx ends.
type adviseLoad func(ctx context.Context, p *pools.Pools, wg *sync.WaitGroup)

// adviseWorkload runs one process of a service named checkout against a
// real redis-server: its pools (sizes from the REDIS_* values given),
// instrumented, and an agent reporting the server's maxclients, all served
// on one Prometheus endpoint, with the callers of load. It returns the
// endpoint's host:port.
func adviseWorkload(t *testing.T, server *redisserver.Server, sizes map[string]string, load adviseLoad) string {
	t.Helper()
	env := map[string]string{
		"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "0", "OTEL_SERVICE_NAME": "checkout",
		"REDIS_MASTER_URL": server.URL(), "REDIS_LOCAL_URL": server.URL(),
	}
	for k, v := range sizes {
		env[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	pipeline, err := exporters.New(ctx, exporters.WithLookup(lookup))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pools.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := pools.New(cfg, pools.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := instrument.New(p, instrument.WithMeterProvider(pipeline.MeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.Start(ctx, agent.WithRedis(server.URL()), agent.WithInterval(adviseScrape),
		agent.WithMeterProvider(pipeline.MeterProvider()), agent.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	load(ctx, p, &wg)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		ag.Close()
		_ = inst.Close()
		_ = p.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = pipeline.Shutdown(sctx)
	})
	return pipeline.PrometheusAddr()
}

// undersizedMaster is 16 callers of the master pool that never pause and
// one reader of the replica pool that pauses 5 ms between reads.
func undersizedMaster(ctx context.Context, p *pools.Pools, wg *sync.WaitGroup) {
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_ = p.Master().Get(ctx, "advise:k").Err()
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			_ = p.Replica().Get(ctx, "advise:k").Err()
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond): // think time of the workload, not a wait for state
			}
		}
	})
}

// adviceJSON is the part of `advise --json` the test reads.
type adviceJSON struct {
	Pools []struct {
		Service, Pool, Verdict, Reason string
		Processes                      int      `json:"processes"`
		Max                            int      `json:"max"`
		RecommendedMax                 int      `json:"recommended_max"`
		DemandPeak                     *float64 `json:"demand_peak"`
		ServerBusy                     *float64 `json:"server_busy"`
	} `json:"pools"`
	Servers []struct {
		Server     string `json:"server"`
		MaxClients int    `json:"maxclients"`
		Before     int    `json:"budget_before"`
		After      int    `json:"budget_after"`
		Fits       bool   `json:"fits"`
	} `json:"servers"`
	Env map[string][]string `json:"env"`
}

// TestAdviseAgainstPrometheus: the undersized master pool is told to grow,
// the oversized idle replica pool to shrink, the server's budget is
// checked against the agent's maxclients, and the variables to set follow.
func TestAdviseAgainstPrometheus(t *testing.T) {
	// Registered first, so it runs after every other cleanup: the
	// workload, the agent, the pipeline and the CLI's HTTP client are gone.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	// Two processes of the service on one server.
	server := redistest.Start(t, redisserver.Options{})
	// The master pool has 2 connections for 16 callers that never pause
	// (undersized), the replica pool 30 connections for one caller that
	// pauses 5 ms between reads (oversized and idle).
	sizes := map[string]string{"REDIS_MASTER_POOL_SIZE": "2", "REDIS_SLAVE_POOL_SIZE": "30"}
	prom := startTestPrometheus(t, "checkout", adviseWorkload(t, server, sizes, undersizedMaster), adviseWorkload(t, server, sizes, undersizedMaster))
	args := []string{"advise", "--prometheus", prom, "--window", "24s", "--step", "2s", "--wait-p99", "1ms"}
	var advice adviceJSON
	redistest.Eventually(t, 120*time.Second, func() error {
		code, stdout, stderr := runAdviseCLI(t, append(args, "--json")...)
		if code != exitOK {
			return fmt.Errorf("exit %d: %s", code, stderr)
		}
		advice = adviceJSON{}
		if err := json.Unmarshal([]byte(stdout), &advice); err != nil {
			return err
		}
		verdicts := map[string]string{}
		for _, p := range advice.Pools {
			verdicts[p.Pool] = p.Verdict
		}
		if verdicts["master"] != "grow" || verdicts["replica"] != "shrink" {
			return fmt.Errorf("verdicts %v, want master grow and replica shrink; output:\n%s", verdicts, stdout)
		}
		return nil
	})
	for _, p := range advice.Pools {
		switch p.Pool {
		case "master":
			if p.Max != 2 || p.RecommendedMax <= 2 || p.RecommendedMax > 18 || p.Processes != 2 {
				t.Errorf("master: max %d advised %d processes %d, want 2, 3 to 18 (16 callers + 10%%) and 2", p.Max, p.RecommendedMax, p.Processes)
			}
		case "replica":
			if p.Max != 30 || p.RecommendedMax < 1 || p.RecommendedMax > 5 || p.Processes != 2 {
				t.Errorf("replica: max %d advised %d processes %d, want 30, 1 to 5 and 2", p.Max, p.RecommendedMax, p.Processes)
			}
		}
	}
	// Per process: master 2, replica 30, local 5, async 20 and 4 health
	// checks: 61; two processes: 122.
	if len(advice.Servers) != 1 || advice.Servers[0].MaxClients != 10000 || !advice.Servers[0].Fits || advice.Servers[0].Before != 122 {
		t.Errorf("servers %+v, want one with maxclients 10000, a budget of 122, that fits", advice.Servers)
	}
	env := strings.Join(advice.Env["checkout"], "\n")
	for _, want := range []string{"REDIS_MASTER_POOL_SIZE=", "REDIS_SLAVE_POOL_SIZE="} {
		if !strings.Contains(env, want) {
			t.Errorf("env lines lack %s:\n%s", want, env)
		}
	}

	code, text, stderr := runAdviseCLI(t, args...)
	if code != exitOK || !strings.Contains(text, "REDIS_MASTER_POOL_SIZE=") || !strings.Contains(text, "maxclients") {
		t.Fatalf("text output: exit %d, stderr %s:\n%s", code, stderr, text)
	}
	t.Logf("poolscope %s\n%s", strings.Join(args, " "), text)

	t.Run("unknown service", func(t *testing.T) {
		code, _, stderr := runAdviseCLI(t, append(args, "--service", "nosuch")...)
		if code != exitUsage || !strings.Contains(stderr, `has no poolscope pool metrics (db_client_connection_max) for --service="nosuch"`) {
			t.Errorf("exit %d, stderr %s", code, stderr)
		}
	})
}

func runAdviseCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, env{args: args, stdout: &out, stderr: &errOut, lookup: func(string) (string, bool) { return "", false }})
	return code, out.String(), errOut.String()
}

// An unreachable Prometheus, an empty one, and something that is not
// Prometheus each give exit status 2 and the reason.
func TestAdviseBadPrometheus(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	empty := startTestPrometheus(t, "nothing", "127.0.0.1:"+strconv.Itoa(redistest.RefusedPort(t)))
	notProm := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>login</html>")
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = notProm.Serve(l) }()
	t.Cleanup(func() { _ = notProm.Close() })
	for name, tc := range map[string]struct{ url, want string }{
		"unreachable":    {"http://127.0.0.1:" + strconv.Itoa(redistest.RefusedPort(t)), "cannot query Prometheus at http://127.0.0.1:"},
		"credentials":    {"http://user:" + canary + "@127.0.0.1:" + strconv.Itoa(redistest.RefusedPort(t)), "connection refused"},
		"empty":          {empty, "has no poolscope pool metrics (db_client_connection_max) in the last 24h0m0s"},
		"not prometheus": {"http://" + l.Addr().String(), "not a Prometheus API answer"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runAdviseCLI(t, "advise", "--prometheus", tc.url)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
			if strings.Contains(stderr, canary) {
				t.Errorf("stderr shows the password: %s", stderr)
			}
		})
	}
}

// slowCommand keeps the single-threaded server busy for 2 ms per call: a
// slow server, whatever the pool's size (2 ms, so that the server's time
// dominates the client's, even under -race).
const slowCommand = `local t0 = redis.call('TIME')
local start = tonumber(t0[1]) * 1000000 + tonumber(t0[2])
repeat
  local t = redis.call('TIME')
until tonumber(t[1]) * 1000000 + tonumber(t[2]) - start >= 2000
return 1`

// phasedSlowMaster runs 12 callers of a 2 ms server-side command on the
// master pool: two of them all the time (so that the server always has a
// command queued and its main thread stays busy), the other 10 only in
// every other 4-second phase, so that the connections in use vary between
// the intervals (2 or 4) while the server, not the pool, limits throughput.
func phasedSlowMaster(ctx context.Context, p *pools.Pools, wg *sync.WaitGroup) {
	const phase = 4 * time.Second
	for i := range 12 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if i >= 2 && time.Now().UnixNano()/int64(phase)%2 == 0 {
					select { // idle in the quiet phase: load shaping, not a wait for state
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
					continue
				}
				_ = p.Master().Eval(ctx, slowCommand, nil).Err()
			}
		})
	}
}

// TestAdviseServerBound runs the live pipeline: a pool of 4 in front of a
// server kept busy by a slow command, the agent exporting the server's
// main-thread CPU time, Prometheus, and the CLI. The share of CPU the
// server gets is the machine's to give (a loaded 2-core machine gave it
// 82% with a command always queued), so the test asserts on what the
// pipeline controls: the advice reads the server's busy share for the
// pool's server, and its verdict follows that share, never the hold
// times' fallback ("rose from"): server-bound at 4 at 80% or more, not
// server-bound below. It waits up to a minute for a saturated reading, the
// case a machine that gives the server its CPU shows at once;
// TestAdviseServerBusyDecides proves both branches on recorded shares.
func TestAdviseServerBound(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	server := redistest.Start(t, redisserver.Options{})
	prom := startTestPrometheus(t, "checkout",
		adviseWorkload(t, server, map[string]string{"REDIS_MASTER_POOL_SIZE": "4"}, phasedSlowMaster))
	var last string
	var busy float64
	patience := time.Now().Add(time.Minute) // for a saturated reading
	redistest.Eventually(t, 150*time.Second, func() error {
		code, stdout, stderr := runAdviseCLI(t, "advise", "--prometheus", prom, "--window", "24s", "--step", "2s", "--json")
		if code != exitOK {
			return fmt.Errorf("exit %d: %s", code, stderr)
		}
		var advice adviceJSON
		if err := json.Unmarshal([]byte(stdout), &advice); err != nil {
			return err
		}
		for _, p := range advice.Pools {
			if p.Pool != "master" {
				continue
			}
			last = fmt.Sprintf("%s %d -> %d: %s", p.Verdict, p.Max, p.RecommendedMax, p.Reason)
			switch {
			case p.Verdict == "not-enough-data" || p.ServerBusy == nil:
				return fmt.Errorf("master: no server busy share yet: %s", last)
			case *p.ServerBusy < 0.8 && time.Now().Before(patience):
				return fmt.Errorf("master: server busy %.0f%%, waiting for a saturated reading: %s", 100**p.ServerBusy, last)
			}
			busy = *p.ServerBusy
			saturated := p.Verdict == "server-bound" && p.RecommendedMax == 4 && strings.Contains(p.Reason, "the server's main thread was busy")
			if (busy >= 0.8) != saturated || strings.Contains(p.Reason, "rose from") {
				t.Errorf("master: server busy %.0f%%: %s; want server-bound at 4 from the server's CPU time at 80%% or more, not server-bound below, never the hold times", 100*busy, last)
			}
			return nil
		}
		return fmt.Errorf("no master pool in %s", stdout)
	})
	t.Logf("master (server busy %.0f%%): %s", 100*busy, last)
}
