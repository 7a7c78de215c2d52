package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/pools"
)

// Config is one soak run. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Duration is the whole run, from the end of the warm-up to the final
	// sample.
	Duration time.Duration
	// Outage is how long the collector stays down once, early in the run;
	// Window is the length of the latency windows before and after it.
	Outage, Window time.Duration
	// ServerRestartEvery and CollectorRestartEvery space the restarts of
	// the rest of the run (after the outage).
	ServerRestartEvery, CollectorRestartEvery time.Duration
	// SampleEvery spaces the resource samples.
	SampleEvery time.Duration
	// Workers run SET+GET pairs; OpsPerSecond is their total pace.
	Workers, OpsPerSecond int
	// ChurnEvery opens, uses and closes one new connection (a disabled
	// pool's client) at this period.
	ChurnEvery time.Duration
	// Dir holds the logs of the server, the collector and the agent.
	Dir string
	// Progress receives one line per phase (nil: discarded).
	Progress io.Writer
}

// DefaultConfig is `make soak`'s run without DURATION: 30 minutes with a
// one-minute collector outage.
func DefaultConfig() Config {
	return Config{
		Duration: 30 * time.Minute, Outage: time.Minute, Window: 30 * time.Second,
		ServerRestartEvery: 2 * time.Minute, CollectorRestartEvery: 3 * time.Minute,
		SampleEvery: 5 * time.Second, Workers: 4, OpsPerSecond: 1000, ChurnEvery: 50 * time.Millisecond,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	for _, f := range []struct{ dst, def *time.Duration }{
		{&c.Duration, &d.Duration}, {&c.Outage, &d.Outage}, {&c.Window, &d.Window},
		{&c.ServerRestartEvery, &d.ServerRestartEvery}, {&c.CollectorRestartEvery, &d.CollectorRestartEvery},
		{&c.SampleEvery, &d.SampleEvery}, {&c.ChurnEvery, &d.ChurnEvery},
	} {
		if *f.dst <= 0 {
			*f.dst = *f.def
		}
	}
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.OpsPerSecond <= 0 {
		c.OpsPerSecond = d.OpsPerSecond
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Sample is one look at the application (this process) and the agent.
type Sample struct {
	At         time.Duration // since the end of the warm-up
	Phase      string
	Goroutines int
	FDs        int
	HeapBytes  uint64 // live heap after a GC
	AgentRSS   int64  // bytes
	AgentFDs   int
	Ops        int64 // SET+GET pairs so far
	Errors     int64
}

// Report is what a run measured. Problems lists every check that failed.
type Report struct {
	Config             Config
	Samples            []Sample
	Baseline, Final    Sample
	P99Before          time.Duration // GET latency, collector up, before the outage
	P99During          time.Duration // collector down
	P99After           time.Duration // collector back
	ControlP99Before   time.Duration // the same windows' GETs through the control client (see window)
	ControlP99During   time.Duration
	ControlP99After    time.Duration
	OpsBefore          int
	OpsDuring          int
	OpsAfter           int
	AgentRSSBefore     int64 // at the start of the outage
	AgentRSSMaxOutage  int64 // the most during it
	ServerRestarts     int
	CollectorRestarts  int // the outage included
	ResumeAfter        []time.Duration
	GoroutinesAtStart  int // before anything started
	GoroutinesAtEnd    int // after everything stopped
	AgentExit          string
	Ops, Errors, Churn int64
	ExportErrors       int64 // failed exports reported to otel.Handle (the collector down)
	Problems           []string
}

// Err is nil when every check passed.
func (r *Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return errors.New("soak: " + strings.Join(r.Problems, "; "))
}

func (r *Report) fail(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// run is the state of one soak.
type run struct {
	cfg       Config
	rep       *Report
	server    *redisserver.Server
	collector *harness.Collector
	agent     *harness.Process
	pools     *pools.Pools
	appLog    *os.File
	pipeline  *exporters.Pipeline
	inst      *instrument.Instrumentation

	start   time.Time
	phase   atomic.Pointer[string]
	window  atomic.Pointer[window] // nil: no window open
	ops     atomic.Int64
	errs    atomic.Int64
	churned atomic.Int64

	exportErrors atomic.Int64
	prevHandler  otel.ErrorHandler

	samplesMu sync.Mutex
}

// Run runs one soak and returns its report; err is set when the run could
// not be set up (a missing binary, say), and the report's Err when a check
// failed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.fill()
	rep := &Report{Config: cfg, GoroutinesAtStart: runtime.NumGoroutine()}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "poolscope-soak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	r := &run{cfg: cfg, rep: rep, start: time.Now()}
	r.setPhase("setup")
	err := r.setUp(ctx)
	if err == nil {
		err = r.drive(ctx)
	}
	r.tearDown()
	if err != nil {
		return rep, err
	}
	r.judge()
	return rep, nil
}

func (r *run) setPhase(p string) {
	r.phase.Store(&p)
	fmt.Fprintf(r.cfg.Progress, "soak: %6.1fs %s\n", time.Since(r.start).Seconds(), p)
}

func (r *run) setUp(ctx context.Context) error {
	var err error
	if r.server, err = redisserver.Start(redisserver.Options{}); err != nil {
		return err
	}
	if r.collector, err = harness.StartCollector(harness.CollectorOptions{Dir: r.cfg.Dir}); err != nil {
		return err
	}
	otlp := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + r.collector.OTLPHTTP,
		"OTEL_METRIC_EXPORT_INTERVAL": "1000",
		"OTEL_METRIC_EXPORT_TIMEOUT":  "3000",
		"OTEL_EXPORTER_OTLP_TIMEOUT":  "2000",
	}

	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	bin, err := harness.BuildPoolscope(root, r.cfg.Dir)
	if err != nil {
		return err
	}
	agent := exec.Command(bin, "agent", "--redis", r.server.URL(), "--self", "--discover", "--interval", "500ms", "--discover-every", "2")
	agent.Env = []string{"PATH=" + os.Getenv("PATH"), "OTEL_SERVICE_NAME=soak-agent"}
	for k, v := range otlp {
		agent.Env = append(agent.Env, k+"="+v)
	}
	if r.agent, err = harness.Start("agent", agent, harness.Options{Log: filepath.Join(r.cfg.Dir, "agent.log")}); err != nil {
		return err
	}

	// The application: pools from the environment (the local role off, so
	// that every Local() call dials: the connection churn), instrumented,
	// exporting over OTLP every second.
	env := map[string]string{
		"REDIS_MASTER_URL": r.server.URL(), "REDIS_LOCAL_URL": r.server.URL(), "REDIS_LOCAL_POOL_ENABLED": "0",
		"REDIS_ASYNC_POOL_MIN": "2", "REDIS_HEALTH_CHECK_INTERVAL": "1s",
		"OTEL_SERVICE_NAME": "soak-app", "OTEL_METRICS_EXPORTER": "otlp",
	}
	for k, v := range otlp {
		env[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	pc, err := pools.LoadConfig(lookup)
	if err != nil {
		return err
	}
	appLog, err := os.Create(filepath.Join(r.cfg.Dir, "app.log"))
	if err != nil {
		return err
	}
	r.appLog = appLog
	logger := slog.New(slog.NewTextHandler(appLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	redislog.Route(logger)
	// Failed exports (the collector down) are expected here: count them and
	// keep them in app.log instead of the terminal.
	r.prevHandler = otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		r.exportErrors.Add(1)
		logger.Warn("otel", "error", err)
	}))
	if r.pools, err = pools.New(pc, pools.WithLogger(logger)); err != nil {
		return err
	}
	if r.pipeline, err = exporters.New(ctx, exporters.WithLookup(lookup)); err != nil {
		return err
	}
	r.inst, err = instrument.New(r.pools, instrument.WithMeterProvider(r.pipeline.MeterProvider()))
	return err
}

// drive runs the workload and the timeline, and takes the samples.
func (r *run) drive(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	r.window.Store(&window{})

	interval := time.Duration(int64(time.Second) * int64(r.cfg.Workers) / int64(r.cfg.OpsPerSecond))
	for w := range r.cfg.Workers {
		wg.Go(func() { r.worker(ctx, w, interval) })
	}
	wg.Go(func() { r.control(ctx, time.Second/time.Duration(r.cfg.OpsPerSecond)) })
	wg.Go(func() { r.churn(ctx) })

	// Warm-up: connections dialled, first exports through, then the
	// baseline.
	r.setPhase("warm-up")
	if err := r.waitExport(ctx, 30*time.Second); err != nil {
		return err
	}
	if !r.wait(ctx, min(5*time.Second, r.cfg.Window)) {
		return ctx.Err()
	}
	r.start = time.Now()
	r.rep.Baseline = r.sample(true)
	wg.Go(func() { r.sampler(ctx) })

	// The outage, between two windows of the same length.
	before := &window{}
	r.window.Store(before)
	r.setPhase("collector up (window before the outage)")
	if !r.wait(ctx, r.cfg.Window) {
		return ctx.Err()
	}
	during := &window{}
	r.window.Store(during)
	r.setPhase("collector down (outage)")
	r.rep.AgentRSSBefore, _ = r.agentResources()
	_ = r.collector.Stop()
	r.rep.CollectorRestarts++
	outageEnd := time.Now().Add(r.cfg.Outage)
	for time.Now().Before(outageEnd) {
		if rss, _ := r.agentResources(); rss > r.rep.AgentRSSMaxOutage {
			r.rep.AgentRSSMaxOutage = rss
		}
		if !r.wait(ctx, min(time.Second, time.Until(outageEnd))) {
			return ctx.Err()
		}
	}
	after := &window{}
	r.window.Store(after)
	r.setPhase("collector back (window after the outage)")
	if err := r.restartCollector(ctx, false); err != nil {
		return err
	}
	if !r.wait(ctx, r.cfg.Window) {
		return ctx.Err()
	}
	r.rep.P99Before, r.rep.OpsBefore = before.app.p99()
	r.rep.P99During, r.rep.OpsDuring = during.app.p99()
	r.rep.P99After, r.rep.OpsAfter = after.app.p99()
	r.rep.ControlP99Before, _ = before.control.p99()
	r.rep.ControlP99During, _ = during.control.p99()
	r.rep.ControlP99After, _ = after.control.p99()
	// No more windows: stop keeping latencies (a 30-minute run would keep
	// millions of them, and the heap check would measure the harness).
	r.window.Store(nil)

	// Restarts until the end.
	r.setPhase("server and collector restarts")
	end := r.start.Add(r.cfg.Duration)
	nextServer := time.Now().Add(r.cfg.ServerRestartEvery / 2)
	nextCollector := time.Now().Add(r.cfg.CollectorRestartEvery)
	for {
		next := nextServer
		if nextCollector.Before(next) {
			next = nextCollector
		}
		if !next.Before(end) {
			break
		}
		if !r.wait(ctx, time.Until(next)) {
			return ctx.Err()
		}
		if !time.Now().Before(nextServer) {
			fmt.Fprintf(r.cfg.Progress, "soak: %6.1fs restart redis-server\n", time.Since(r.start).Seconds())
			if err := r.server.Restart(); err != nil {
				return err
			}
			r.rep.ServerRestarts++
			nextServer = nextServer.Add(r.cfg.ServerRestartEvery)
		}
		if !time.Now().Before(nextCollector) {
			fmt.Fprintf(r.cfg.Progress, "soak: %6.1fs restart the collector\n", time.Since(r.start).Seconds())
			if err := r.restartCollector(ctx, true); err != nil {
				return err
			}
			nextCollector = nextCollector.Add(r.cfg.CollectorRestartEvery)
		}
	}
	if !r.wait(ctx, time.Until(end)) {
		return ctx.Err()
	}

	// The end: everything up and exporting, then the final sample (the
	// workload still running, as it was for the baseline).
	r.setPhase("settle")
	if err := r.waitExport(ctx, 30*time.Second); err != nil {
		return err
	}
	r.rep.Final = r.sample(true)
	r.rep.Ops, r.rep.Errors, r.rep.Churn = r.ops.Load(), r.errs.Load(), r.churned.Load()
	return nil
}

// wait waits d or until ctx ends; false when ctx ended.
func (r *run) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// restartCollector starts the collector (stopping it first when running)
// and measures how long until both the application and the agent export
// to it again.
func (r *run) restartCollector(ctx context.Context, stop bool) error {
	if stop {
		_ = r.collector.Stop()
		r.rep.CollectorRestarts++
	}
	started := time.Now()
	if err := r.collector.Start(); err != nil {
		return err
	}
	if err := r.waitExport(ctx, 30*time.Second); err != nil {
		r.rep.fail("%v", err)
		return nil
	}
	r.rep.ResumeAfter = append(r.rep.ResumeAfter, time.Since(started))
	return nil
}

// waitExport waits until the collector's /metrics shows the application's
// pool metrics and the agent's server metrics: a restarted collector has
// none until an export arrives.
func (r *run) waitExport(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		body, err := r.collector.Scrape(ctx)
		if err == nil && strings.Contains(body, "db_client_connection_count{") && strings.Contains(body, "poolscope_redis_up{") {
			return nil
		}
		last = fmt.Sprint(err)
		if err == nil {
			last = fmt.Sprintf("%d bytes without the application's and the agent's metrics", len(body))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("export did not resume within %s (collector /metrics: %s)", timeout, last)
		}
		if !r.wait(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// worker runs SET+GET pairs at its share of the pace, timing the GETs.
func (r *run) worker(ctx context.Context, w int, every time.Duration) {
	c := r.pools.Master()
	key := "soak:" + strconv.Itoa(w)
	tick(ctx, every, func() {
		if err := c.Set(ctx, key, "v", 0).Err(); err != nil {
			r.errs.Add(1)
			return
		}
		start := time.Now()
		if err := c.Get(ctx, key).Err(); err != nil {
			r.errs.Add(1)
			return
		}
		if w := r.window.Load(); w != nil {
			w.app.add(time.Since(start))
		}
		r.ops.Add(1)
	})
}

// churn opens a new connection, uses it and closes it at every tick.
func (r *run) churn(ctx context.Context) {
	tick(ctx, r.cfg.ChurnEvery, func() {
		c := r.pools.Local()
		if c.Ping(ctx).Err() == nil {
			r.churned.Add(1)
		}
		_ = r.pools.CloseClient(c)
	})
}

func (r *run) sampler(ctx context.Context) {
	tick(ctx, r.cfg.SampleEvery, func() {
		s := r.sample(true) // live heap: a GC every SampleEvery costs little at a few MiB
		r.samplesMu.Lock()
		r.rep.Samples = append(r.rep.Samples, s)
		r.samplesMu.Unlock()
	})
}

// tick calls f at every period until ctx ends (a tick that comes while f
// still runs is dropped, as time.Ticker drops it).
func tick(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}

// sample looks at this process and the agent; gc first collects garbage,
// so that HeapBytes is the live heap.
func (r *run) sample(gc bool) Sample {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, fds := r.agentResources()
	return Sample{
		At: time.Since(r.start), Phase: *r.phase.Load(),
		Goroutines: runtime.NumGoroutine(), FDs: countFDs(os.Getpid()), HeapBytes: ms.HeapAlloc,
		AgentRSS: rss, AgentFDs: fds, Ops: r.ops.Load(), Errors: r.errs.Load(),
	}
}

func (r *run) agentResources() (rss int64, fds int) {
	if r.agent == nil {
		return 0, 0
	}
	pid := r.agent.Pid()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "statm"))
	if err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	return rss, countFDs(pid)
}

func countFDs(pid int) int {
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return -1
	}
	return len(entries)
}

// tearDown stops everything, the agent with SIGTERM as an operator would.
func (r *run) tearDown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r.inst != nil {
		_ = r.inst.Close()
	}
	if r.pipeline != nil {
		_ = r.pipeline.Shutdown(ctx)
	}
	if r.pools != nil {
		_ = r.pools.Close()
	}
	if r.agent != nil {
		r.stopAgent()
	}
	if r.collector != nil {
		_ = r.collector.Stop()
	}
	if r.server != nil {
		_ = r.server.Close()
	}
	if r.prevHandler != nil {
		otel.SetErrorHandler(r.prevHandler)
	}
	if r.appLog != nil {
		_ = r.appLog.Close()
	}
	r.rep.ExportErrors = r.exportErrors.Load()
	// Goroutines that end asynchronously (the HTTP transport's idle
	// connections) get a moment, polled.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > r.rep.GoroutinesAtStart+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling for the count, not waiting for a fixed time
	}
	r.rep.GoroutinesAtEnd = runtime.NumGoroutine()
}

// stopAgent stops the agent with SIGTERM, as an operator would, and
// reports how it exited.
func (r *run) stopAgent() {
	start := time.Now()
	if err := r.agent.Stop(); err != nil {
		r.rep.fail("the agent ignored SIGTERM for %s", harness.DefaultStopGrace)
		return
	}
	err := r.agent.ExitErr()
	r.rep.AgentExit = fmt.Sprintf("exit %v after SIGTERM in %s", errOrZero(err), time.Since(start).Round(time.Millisecond))
	if err != nil {
		r.rep.fail("the agent exited with %v after SIGTERM", err)
	}
}

func errOrZero(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// Thresholds of judge. The run happens on a shared 2-core machine, so the
// bounds are generous against noise and still catch a leak: one goroutine
// or fd per restart or per churned connection would exceed them within a
// minute.
const (
	maxGoroutineGrowth = 10
	maxFDGrowth        = 10
	heapSlackBytes     = 16 << 20
	rssSlackBytes      = 16 << 20
	maxResume          = 15 * time.Second
)

// judge turns the measurements into problems.
func (r *run) judge() {
	rep := r.rep
	b, f := rep.Baseline, rep.Final
	if f.Goroutines > b.Goroutines+maxGoroutineGrowth {
		rep.fail("goroutines grew from %d to %d", b.Goroutines, f.Goroutines)
	}
	if f.FDs > b.FDs+maxFDGrowth {
		rep.fail("file descriptors grew from %d to %d", b.FDs, f.FDs)
	}
	if f.HeapBytes > b.HeapBytes*3/2+heapSlackBytes {
		rep.fail("live heap grew from %s to %s", mib(int64(b.HeapBytes)), mib(int64(f.HeapBytes)))
	}
	if f.AgentRSS > b.AgentRSS*3/2+rssSlackBytes {
		rep.fail("agent RSS grew from %s to %s", mib(b.AgentRSS), mib(f.AgentRSS))
	}
	if f.AgentFDs > b.AgentFDs+maxFDGrowth {
		rep.fail("agent file descriptors grew from %d to %d", b.AgentFDs, f.AgentFDs)
	}
	if rep.AgentRSSMaxOutage > rep.AgentRSSBefore*3/2+rssSlackBytes {
		rep.fail("agent RSS rose from %s to %s while the collector was down", mib(rep.AgentRSSBefore), mib(rep.AgentRSSMaxOutage))
	}
	// Latency with the collector down against the worse of the two windows
	// around it, and against the control's GETs in the same window: a
	// command that waits for an export is slow against both, while a
	// shared machine that is slower during the outage than around it
	// (other tests' load coming and going) slows the control as much. A 2x
	// margin plus 1 ms absorbs the noise of each comparison.
	ref := max(rep.P99Before, rep.P99After)
	if rep.P99During > 2*ref+time.Millisecond && rep.P99During > 2*rep.ControlP99During+time.Millisecond {
		rep.fail("GET p99 %s with the collector down, %s and %s around it, %s through the control client meanwhile",
			rep.P99During, rep.P99Before, rep.P99After, rep.ControlP99During)
	}
	for i, d := range rep.ResumeAfter {
		if d > maxResume {
			rep.fail("export took %s to resume after collector start %d", d, i+1)
		}
	}
	// Flat over time, not only at the end: the last quarter of the samples
	// against the second (the first holds the outage).
	if q2, q4 := rep.quarter(1), rep.quarter(3); q2.n > 0 && q4.n > 0 {
		if q4.heap > q2.heap*3/2+heapSlackBytes/2 {
			rep.fail("live heap rose from %s (second quarter) to %s (last quarter)", mib(int64(q2.heap)), mib(int64(q4.heap)))
		}
		if q4.rss > q2.rss*3/2+rssSlackBytes/2 {
			rep.fail("agent RSS rose from %s (second quarter) to %s (last quarter)", mib(q2.rss), mib(q4.rss))
		}
	}
	if rep.OpsDuring == 0 {
		rep.fail("no command completed while the collector was down")
	}
	if rep.GoroutinesAtEnd > rep.GoroutinesAtStart+2 {
		rep.fail("%d goroutines after shutdown, %d before start", rep.GoroutinesAtEnd, rep.GoroutinesAtStart)
	}
}

// quarterMeans are the means of one quarter of the samples.
type quarterMeans struct {
	n          int
	heap       uint64
	rss        int64
	goroutines float64
}

// quarter returns the means of the q-th quarter (0 to 3) of the samples.
func (r *Report) quarter(q int) quarterMeans {
	n := len(r.Samples)
	part := r.Samples[q*n/4 : (q+1)*n/4]
	m := quarterMeans{n: len(part)}
	if m.n == 0 {
		return m
	}
	for _, s := range part {
		m.heap += s.HeapBytes
		m.rss += s.AgentRSS
		m.goroutines += float64(s.Goroutines)
	}
	m.heap /= uint64(m.n)
	m.rss /= int64(m.n)
	m.goroutines /= float64(m.n)
	return m
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteTable prints the report: the figures, the samples (at most 20 rows)
// and the verdict.
func (r *Report) WriteTable(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "soak: %s, collector outage %s, server restart every %s, collector restart every %s, %d ops/s, churn every %s\n",
		c.Duration, c.Outage, c.ServerRestartEvery, c.CollectorRestartEvery, c.OpsPerSecond, c.ChurnEvery)
	fmt.Fprintf(w, "\n%-10s %-10s %-6s %-11s %-10s %-9s\n", "", "goroutines", "fds", "live heap", "agent RSS", "agent fds")
	for _, row := range []struct {
		name string
		s    Sample
	}{{"baseline", r.Baseline}, {"final", r.Final}} {
		fmt.Fprintf(w, "%-10s %-10d %-6d %-11s %-10s %-9d\n", row.name, row.s.Goroutines, row.s.FDs, mib(int64(row.s.HeapBytes)), mib(row.s.AgentRSS), row.s.AgentFDs)
	}
	fmt.Fprintf(w, "\nGET p99: collector up before %s (%d GETs), down %s (%d), back %s (%d); down/up ratio %.2f\n",
		r.P99Before, r.OpsBefore, r.P99During, r.OpsDuring, r.P99After, r.OpsAfter,
		float64(r.P99During)/float64(max(1, max(r.P99Before, r.P99After))))
	fmt.Fprintf(w, "control GET p99 (a bare go-redis client, same server, same time): before %s, down %s, back %s\n",
		r.ControlP99Before, r.ControlP99During, r.ControlP99After)
	fmt.Fprintf(w, "agent RSS: %s when the collector stopped, at most %s during the %s outage\n", mib(r.AgentRSSBefore), mib(r.AgentRSSMaxOutage), c.Outage)
	resumes := make([]string, len(r.ResumeAfter))
	for i, d := range r.ResumeAfter {
		resumes[i] = d.Round(10 * time.Millisecond).String()
	}
	fmt.Fprintf(w, "export resumed after each collector start in: %s\n", strings.Join(resumes, ", "))
	fmt.Fprintf(w, "restarts: redis-server %d, collector %d; commands: %d SET+GET pairs, %d errors; %d churned connections; %d failed exports\n",
		r.ServerRestarts, r.CollectorRestarts, r.Ops, r.Errors, r.Churn, r.ExportErrors)
	fmt.Fprintf(w, "goroutines: %d before start, %d after shutdown; agent: %s\n", r.GoroutinesAtStart, r.GoroutinesAtEnd, r.AgentExit)
	if q2, q4 := r.quarter(1), r.quarter(3); q2.n > 0 && q4.n > 0 {
		fmt.Fprintf(w, "means, second quarter -> last quarter: live heap %s -> %s, agent RSS %s -> %s, goroutines %.1f -> %.1f\n",
			mib(int64(q2.heap)), mib(int64(q4.heap)), mib(q2.rss), mib(q4.rss), q2.goroutines, q4.goroutines)
	}
	if len(r.Samples) > 0 {
		fmt.Fprintf(w, "\n%-8s %-10s %-6s %-11s %-10s %-9s %s\n", "t", "goroutines", "fds", "live heap", "agent RSS", "agent fds", "phase")
		step := max(1, len(r.Samples)/20)
		for i := 0; i < len(r.Samples); i += step {
			s := r.Samples[i]
			fmt.Fprintf(w, "%-8s %-10d %-6d %-11s %-10s %-9d %s\n", s.At.Round(time.Second), s.Goroutines, s.FDs, mib(int64(s.HeapBytes)), mib(s.AgentRSS), s.AgentFDs, s.Phase)
		}
	}
	if err := r.Err(); err != nil {
		fmt.Fprintf(w, "\nFAIL: %v\n", err)
	} else {
		fmt.Fprintln(w, "\nPASS: goroutines, fds, heap and agent memory flat; latency unchanged without the collector; export resumed every time")
	}
}
