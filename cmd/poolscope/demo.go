package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poolscope/poolscope/agent"
	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/internal/redisserver"
)

func init() {
	register("demo", command{
		summary: "run a workload with pools on and off against its own redis-server and show live figures",
		run:     runDemo,
	})
}

const demoHelp = `Usage: poolscope demo [--duration D] [--listen ADDR] [--components N] [--concurrency N]

Starts its own redis-server on a free loopback port (nothing else is needed)
and two worker processes running the same instrumented workload: "pooled",
with every pool enabled (one shared, capped pool per role), and "unpooled",
with every pool disabled (go-redis defaults, a pool per client). The agent
runs inside the demo with --discover and finds both workers through /proc.

Once a second it prints, per pool, what it holds and how callers fare; per
process, its memory and Redis connections; per server, its clients by name.
The same figures are served for Prometheus on --listen (/metrics), labelled
as the OpenTelemetry Collector would label them. Ctrl-C or the end of
--duration stops everything it started and exits 0.

Examples:
  poolscope demo
  poolscope demo --duration 2m --components 20
  poolscope demo --duration 0 --listen 127.0.0.1:0     # until Ctrl-C, any free port

Flags:
`

// demoWorker is one child process.
type demoWorker struct {
	label string
	cmd   *exec.Cmd
	done  chan struct{}
	hello chan workerHello
}

// demoFlags are the demo's settings.
type demoFlags struct {
	duration                time.Duration
	listen                  string
	components, concurrency int
}

// runDemo reads the flags, starts the metrics endpoint, a redis-server, the
// embedded agent and the two workers, then prints the table once a second
// until ctx ends or --duration is over.
func runDemo(ctx context.Context, e env) int {
	f, code, ok := parseDemoFlags(e)
	if !ok {
		return code
	}
	redislog.Route(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	fail := func(err error) int {
		fmt.Fprintln(e.stderr, "poolscope demo:", err)
		return exitFail
	}

	hub := newMetricsHub()
	metricsAddr, stopServing, err := hub.serve(ctx, f.listen)
	if err != nil {
		return fail(fmt.Errorf("serve metrics: %w (choose another address with --listen, e.g. 127.0.0.1:0)", err))
	}
	defer stopServing()

	server, err := redisserver.Start(redisserver.Options{})
	if err != nil {
		return fail(err)
	}
	defer server.Close()
	fmt.Fprintf(e.stdout, "poolscope demo: redis-server %s (pid %d), metrics on http://%s/metrics; Ctrl-C to stop\n",
		server.Addr(), server.Pid(), metricsAddr)

	stopAgent, err := startDemoAgent(ctx, server.URL(), hub)
	if err != nil {
		return fail(err)
	}
	defer stopAgent()

	workers, err := startWorkers(e, server.URL(), f.components, f.concurrency)
	defer stopWorkers(workers)
	if err != nil {
		return fail(err)
	}
	if err := awaitWorkers(ctx, workers, hub); err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return exitOK // stopped before the workers were up: no table
	}
	printDemo(ctx, e.stdout, hub, newDemoTable(server, workers))
	return exitOK
}

// parseDemoFlags reads and checks the flags. ok is false when the demo
// must not run; code is then the exit status.
func parseDemoFlags(e env) (f demoFlags, code int, ok bool) {
	fs := flag.NewFlagSet("poolscope demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "how long to run (0: until Ctrl-C)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:9464", "where to serve /metrics for Prometheus")
	fs.IntVar(&f.components, "components", 10, "clients each role's code asks for in each worker")
	fs.IntVar(&f.concurrency, "concurrency", 4, "concurrent callers per client")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(e.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, exitOK, false
		}
		return f, exitUsage, false
	}
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("%q: unexpected argument", fs.Arg(0)))
	}
	if f.duration < 0 {
		bad = append(bad, fmt.Sprintf("--duration=%q: must be 0 or positive", f.duration.String()))
	}
	if f.components < 1 || f.components > 1000 {
		bad = append(bad, fmt.Sprintf("--components=%q: want 1 to 1000", strconv.Itoa(f.components)))
	}
	if f.concurrency < 1 || f.concurrency > 100 {
		bad = append(bad, fmt.Sprintf("--concurrency=%q: want 1 to 100", strconv.Itoa(f.concurrency)))
	}
	if problem := checkListen(f.listen); problem != "" {
		bad = append(bad, fmt.Sprintf("--listen=%q: %s", f.listen, problem))
	}
	for _, b := range bad {
		fmt.Fprintln(e.stderr, "poolscope demo:", b)
	}
	return f, exitUsage, len(bad) == 0
}

// startDemoAgent runs the agent embedded, with its own pipeline serving
// Prometheus on a free port (whatever OTEL_* variables the caller has set),
// and adds that endpoint to the hub. stop closes both.
func startDemoAgent(ctx context.Context, url string, hub *metricsHub) (stop func(), err error) {
	pipeline, err := exporters.New(ctx, exporters.WithLookup(demoLookup(map[string]string{
		"OTEL_SERVICE_NAME": "poolscope-agent",
	})))
	if err != nil {
		return nil, err
	}
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = pipeline.Shutdown(sctx)
	}
	hub.add(metricSource{job: "poolscope-agent", addr: pipeline.PrometheusAddr()})
	ag, err := agent.Start(ctx, agent.WithRedis(url), agent.WithDiscover(), agent.WithDiscoverEvery(1),
		agent.WithInterval(time.Second), agent.WithMeterProvider(pipeline.MeterProvider()),
		agent.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		shutdown()
		return nil, err
	}
	return func() { _ = ag.Close(); shutdown() }, nil
}

// awaitWorkers waits for each worker's hello line and adds its metrics
// endpoint to the hub. It returns nil when ctx ends first.
func awaitWorkers(ctx context.Context, workers []*demoWorker, hub *metricsHub) error {
	for _, w := range workers {
		select {
		case h, ok := <-w.hello:
			if !ok {
				return fmt.Errorf("the %s worker exited before serving its metrics", w.label)
			}
			hub.add(metricSource{job: "demo-" + w.label, addr: h.Metrics})
		case <-ctx.Done():
			return nil
		case <-time.After(15 * time.Second):
			return fmt.Errorf("the %s worker did not start within 15s", w.label)
		}
	}
	return nil
}

// printDemo prints the table, and the advice per pool, once a second until
// ctx ends.
func printDemo(ctx context.Context, w io.Writer, hub *metricsHub, table *demoTable) {
	advisor := newDemoAdvisor()
	start := time.Now()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "poolscope demo: stopped")
			return
		case <-ticker.C:
			sctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
			snap := hub.scrape(sctx)
			cancel()
			if ctx.Err() == nil {
				fmt.Fprint(w, table.render(snap, time.Since(start)))
				advisor.observe(snap)
				fmt.Fprint(w, advisor.render())
			}
		}
	}
}

// demoLookup is the environment of the demo's own pipeline: a Prometheus
// endpoint on a free loopback port, and nothing from the caller's OTEL_*.
func demoLookup(extra map[string]string) func(string) (string, bool) {
	vars := map[string]string{
		"OTEL_METRICS_EXPORTER":         "prometheus",
		"OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
		"OTEL_EXPORTER_PROMETHEUS_PORT": "0",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// checkListen says what is wrong with a host:port to listen on, or "".
func checkListen(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "not host:port"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "not a port number (0 to 65535)"
	}
	return ""
}

// startWorkers re-executes this binary as two demo-workers, one with every
// pool enabled and one with every pool disabled. Their environment names
// only the demo's server, whatever the caller's REDIS_* and OTEL_* say.
func startWorkers(e env, url string, components, concurrency int) ([]*demoWorker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_") && !strings.HasPrefix(kv, "OTEL_") {
			base = append(base, kv)
		}
	}
	var workers []*demoWorker
	for _, mode := range []struct {
		label, flag string
	}{{"pooled", "1"}, {"unpooled", "0"}} {
		vars := append([]string(nil), base...)
		vars = append(vars, "OTEL_SERVICE_NAME=demo-"+mode.label, "OTEL_METRICS_EXPORTER=prometheus",
			"OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1", "OTEL_EXPORTER_PROMETHEUS_PORT=0",
			"REDIS_MASTER_URL="+url, "REDIS_LOCAL_URL="+url, "REDIS_HEALTH_CHECK_INTERVAL=1s")
		for _, role := range []string{"MASTER", "SLAVE", "LOCAL", "ASYNC"} {
			vars = append(vars, "REDIS_"+role+"_POOL_ENABLED="+mode.flag)
		}
		cmd := exec.Command(exe, "demo-worker", "--components", strconv.Itoa(components), "--concurrency", strconv.Itoa(concurrency))
		cmd.Env = vars
		cmd.Stderr = e.stderr
		// Pdeathsig: a demo killed hard must not leave workers behind.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return workers, err
		}
		if err := cmd.Start(); err != nil {
			return workers, fmt.Errorf("start the %s worker: %w", mode.label, err)
		}
		w := &demoWorker{label: mode.label, cmd: cmd, done: make(chan struct{}), hello: make(chan workerHello, 1)}
		workers = append(workers, w)
		go w.read(out)
	}
	return workers, nil
}

// read waits for the worker's hello line, then drains its stdout.
func (w *demoWorker) read(out io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(out)
	sent := false
	for sc.Scan() {
		var h workerHello
		if !sent && json.Unmarshal(sc.Bytes(), &h) == nil && h.Metrics != "" {
			w.hello <- h
			sent = true
		}
	}
	if !sent {
		close(w.hello)
	}
}

// stopWorkers asks each worker to stop (SIGTERM), then kills stragglers.
func stopWorkers(workers []*demoWorker) {
	for _, w := range workers {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range workers {
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		_ = w.cmd.Wait()
	}
}
