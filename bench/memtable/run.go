package memtable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/pools"
)

// Transports, in the order they are measured.
const (
	Plain = "plain"
	TLS   = "tls"
)

// Run is one configuration: N workers over one transport with every pool
// flag off or on.
type Run struct {
	Transport string
	Workers   int
	Pools     bool // every REDIS_*_POOL_ENABLED flag on
	// Samples are the workers' samples, in pid order.
	Samples []ProcessSample
	// Commands and Errors are the workload's totals over all workers;
	// ClientConns is the sum of the workers' own connection counts.
	Commands, Errors int64
	ClientConns      int64
	// PipelineConns is the part of ClientConns in the go-redis clients'
	// dedicated pipeline pools (outside the master pool's cap).
	PipelineConns int64
	// Unsettled counts the workers whose health checks or pool warm-up
	// had not completed when they gave up waiting (normally 0).
	Unsettled int
	// Elapsed is from the first start to the last worker steady, with
	// Config.Parallel workers running at a time.
	Elapsed time.Duration
}

// SweepPoint is one step of a sweep: the swept quantity and the sample.
type SweepPoint struct {
	X      int // connections (conns sweep) or configured pool slots (slots sweep)
	Sample ProcessSample
	// HeapInuse is the Go heap the worker reported at the step.
	HeapInuse uint64
}

// Result is everything Measure measured; Report prints it.
type Result struct {
	Config  Config
	Machine Machine
	Runs    []Run
	// ConnSweep is the per-connection sweep per transport.
	ConnSweep map[string][]SweepPoint
	// SlotSweep is the pool-slot sweep (plain; no connection is opened);
	// SlotSweepMaintOff the same with go-redis's maintenance notifications
	// off.
	SlotSweep, SlotSweepMaintOff []SweepPoint
	Elapsed                      time.Duration
}

// Measure starts its redis-servers, runs every configuration and both
// sweeps, and returns the measurements. Progress lines go to progress.
func Measure(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("memtable: cannot find the running binary to start workers: %w", err)
		}
		cfg.Executable = exe
	}
	maxClients, err := serverMaxClients(cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	transports := []string{Plain}
	if cfg.TLS {
		transports = append(transports, TLS)
	}
	servers := map[string]*redisserver.Server{}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	for _, t := range transports {
		s, err := redisserver.Start(redisserver.Options{
			TLS:        t == TLS,
			MaxClients: maxClients,
			// Hundreds of workers dial at once: a short accept queue would
			// turn into SYN retries of a second each.
			Args: []string{"--tcp-backlog", "4096"},
		})
		if err != nil {
			return nil, err
		}
		servers[t] = s
	}

	res := &Result{Config: cfg, Machine: describeMachine(ctx, servers[Plain]), ConnSweep: map[string][]SweepPoint{}}
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "memtable: "+format+"\n", args...) }
	logf("machine: %s; load average %s", res.Machine, res.Machine.LoadAtStart)

	for _, n := range cfg.Workers {
		for _, t := range transports {
			for _, on := range []bool{false, true} {
				run, err := measureRun(ctx, cfg, servers[t], t, n, on, progress)
				if err != nil {
					return nil, err
				}
				logf("%s N=%d pools %s: median RSS %.1f MiB, median conns %.0f, %s", t, n, onOff(on),
					median(field(run.Samples, rss))/(1<<20), median(field(run.Samples, serverConns)), run.Elapsed.Round(time.Millisecond))
				res.Runs = append(res.Runs, *run)
			}
		}
	}
	for _, t := range transports {
		pts, err := connSweep(ctx, cfg, servers[t], t, progress)
		if err != nil {
			return nil, err
		}
		res.ConnSweep[t] = pts
		logf("%s connection sweep done", t)
	}
	if res.SlotSweep, err = slotSweep(ctx, cfg, servers[Plain], false, progress); err != nil {
		return nil, err
	}
	if res.SlotSweepMaintOff, err = slotSweep(ctx, cfg, servers[Plain], true, progress); err != nil {
		return nil, err
	}
	res.Machine.LoadAtFinish = loadAverage()
	res.Elapsed = time.Since(start)
	return res, nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// perClientConns is the most connections one go-redis client with default
// options opens: its main pool (PoolSize, 10 x GOMAXPROCS) plus its
// pipeline pool (10).
func perClientConns(goroutines int) int {
	return min(goroutines, 10*runtime.GOMAXPROCS(0)) + min(goroutines, 10)
}

// serverMaxClients is the maxclients the largest run needs, checked
// against the open-file limit that redis-server inherits.
func serverMaxClients(cfg Config) (int, error) {
	// Per worker: K unpooled clients, plus the four health connections and
	// the async pool's five when pooled.
	perWorker := cfg.Workload.Clients*perClientConns(cfg.Workload.Goroutines) + 4 + 5
	need := max(slices.Max(cfg.Workers)*perWorker, slices.Max(cfg.ConnSteps)) + 64
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(need)+32 > lim.Max {
		return 0, fmt.Errorf("memtable: -n=%d with -k=%d and -goroutines=%d can open up to %d connections, more than redis-server can accept under the open-file limit of %d (ulimit -Hn): lower -n, -k or -goroutines, or raise the limit",
			slices.Max(cfg.Workers), cfg.Workload.Clients, cfg.Workload.Goroutines, need, lim.Max)
	}
	return max(need, 1000), nil
}

// poolsEnv is the environment of a pools worker: every role on the
// server, every flag off or on, the workload.
func poolsEnv(srv *redisserver.Server, on bool, w Workload) []string {
	flag := "0"
	if on {
		flag = "1"
	}
	wl, _ := json.Marshal(w)
	env := []string{
		"OTEL_SERVICE_NAME=" + workerService,
		"REDIS_MASTER_URL=" + srv.URL(),
		"REDIS_LOCAL_URL=" + srv.URL(),
		"REDIS_MASTER_POOL_ENABLED=" + flag,
		"REDIS_SLAVE_POOL_ENABLED=" + flag,
		"REDIS_LOCAL_POOL_ENABLED=" + flag,
		"REDIS_ASYNC_POOL_ENABLED=" + flag,
		envWorkload + "=" + string(wl),
	}
	if srv.TLS != nil {
		env = append(env, "REDIS_TLS_CA_FILE="+srv.TLS.CAFile)
	}
	return env
}

// measureRun starts N workers, waits until every one is steady, samples
// them, stops them and waits until the server has dropped their
// connections.
func measureRun(ctx context.Context, cfg Config, srv *redisserver.Server, transport string, n int, on bool, progress io.Writer) (run *Run, err error) {
	env := poolsEnv(srv, on, cfg.Workload)
	run = &Run{Transport: transport, Workers: n, Pools: on}
	start := time.Now()
	children := make([]*child, 0, n)
	defer func() {
		if stopErr := stopAll(children, 30*time.Second); err == nil && stopErr != nil {
			err = stopErr
		}
		if err == nil {
			err = awaitDrained(ctx, srv, cfg.StepTimeout)
		}
	}()
	// At most cfg.Parallel workers run their workload at a time: what a
	// worker ends up holding depends on the concurrency inside it, not on
	// how many others run beside it, and a hundred workers dialling (TLS)
	// at once would only add dial timeouts on a small machine.
	sctx, cancel := context.WithTimeout(ctx, cfg.StepTimeout)
	defer cancel()
	steady := make([]steadyLine, n)
	errs := make([]error, n)
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range min(cfg.Parallel, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || sctx.Err() != nil {
					return
				}
				c, err := startChild(fmt.Sprintf("%s N=%d pools %s worker %d", transport, n, onOff(on), i+1), cfg.Executable, kindPools, env)
				if err != nil {
					errs[i] = err
					cancel()
					return
				}
				mu.Lock()
				children = append(children, c)
				mu.Unlock()
				if steady[i], errs[i] = c.awaitSteady(sctx); errs[i] != nil {
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(children) != n {
		return nil, fmt.Errorf("memtable: %s N=%d pools %s: %d of %d workers started: %w", transport, n, onOff(on), len(children), n, sctx.Err())
	}
	run.Elapsed = time.Since(start)
	pids := make([]int, n)
	for i, c := range children {
		pids[i] = c.pid()
	}
	for i := range steady {
		run.Commands += steady[i].Commands
		run.Errors += steady[i].Errors
		run.ClientConns += int64(steady[i].Conns)
		run.PipelineConns += int64(steady[i].PipelineConns)
		if len(steady[i].Unsettled) > 0 {
			run.Unsettled++
		}
	}
	// Every worker holds at least its four health-check connections.
	samples, err := sampleProcesses(ctx, srv, pids, int64(len(pools.Roles)), cfg.StepTimeout, progress)
	if err != nil {
		return nil, err
	}
	slices.Sort(pids)
	for _, pid := range pids {
		run.Samples = append(run.Samples, *samples[pid])
	}
	return run, nil
}

// connSweep runs the per-connection sweep in one worker process.
func connSweep(ctx context.Context, cfg Config, srv *redisserver.Server, transport string, progress io.Writer) ([]SweepPoint, error) {
	env := []string{"REDIS_MASTER_URL=" + srv.URL(), envPoolSize + "=" + strconv.Itoa(slices.Max(cfg.ConnSteps)+1)}
	if srv.TLS != nil {
		env = append(env, "REDIS_TLS_CA_FILE="+srv.TLS.CAFile)
	}
	return sweep(ctx, cfg, srv, transport+" connection sweep", kindConns, "conns", cfg.ConnSteps, env, progress)
}

// slotSweep runs the pool-slot sweep in one worker process.
func slotSweep(ctx context.Context, cfg Config, srv *redisserver.Server, maintOff bool, progress io.Writer) ([]SweepPoint, error) {
	env := []string{"REDIS_MASTER_URL=" + srv.URL(), envSlotClients + "=" + strconv.Itoa(cfg.SlotClients)}
	name := "pool-slot sweep"
	if maintOff {
		env = append(env, envMaintOff+"=1")
		name += " (maintenance notifications off)"
	}
	return sweep(ctx, cfg, srv, name, kindSlots, "slots", cfg.SlotSteps, env, progress)
}

// sweep starts one worker, walks it through the steps and samples it at
// each, once the server lists exactly the connections the worker holds.
func sweep(ctx context.Context, cfg Config, srv *redisserver.Server, name, kind, verb string, steps []int, env []string, progress io.Writer) (pts []SweepPoint, err error) {
	c, err := startChild(name, cfg.Executable, kind, env)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := c.stop(30 * time.Second); err == nil && stopErr != nil {
			err = stopErr
		}
		if err == nil {
			err = awaitDrained(ctx, srv, cfg.StepTimeout)
		}
	}()
	for _, step := range steps {
		if err := c.send(verb + " " + strconv.Itoa(step)); err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, cfg.StepTimeout)
		st, err := c.awaitSteady(sctx)
		cancel()
		if err != nil {
			return nil, err
		}
		x := st.Conns
		if kind == kindSlots {
			x = st.Slots
		}
		var s *ProcessSample
		deadline := time.Now().Add(cfg.StepTimeout)
		for {
			samples, err := sampleProcesses(ctx, srv, []int{c.pid()}, 0, cfg.StepTimeout, progress)
			if err != nil {
				return nil, err
			}
			s = samples[c.pid()]
			if s.ServerConns == int64(st.Conns) {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("memtable: %s step %s %d: the server lists %d of the worker's connections, the worker holds %d", name, verb, step, s.ServerConns, st.Conns)
			}
			time.Sleep(50 * time.Millisecond) // a closed connection is still being dropped by the server
		}
		pts = append(pts, SweepPoint{X: x, Sample: *s, HeapInuse: st.HeapInuse})
	}
	return pts, nil
}

// awaitDrained polls INFO clients until only the harness's own admin
// connection is left, so that one run's connections do not overlap the
// next run's.
func awaitDrained(ctx context.Context, srv *redisserver.Server, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		info, err := srv.Admin().Info(ctx, "clients").Result()
		n, convErr := strconv.Atoi(infoField(info, "connected_clients"))
		if err == nil && convErr == nil && n <= 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("memtable: redis-server on port %d still has %d clients %s after the workers exited (INFO error: %v)", srv.Port, n, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Accessors used to pull one column out of samples.
func rss(s ProcessSample) float64         { return float64(s.RSS) }
func vms(s ProcessSample) float64         { return float64(s.VMS) }
func pss(s ProcessSample) float64         { return float64(s.PSS) }
func serverConns(s ProcessSample) float64 { return float64(s.ServerConns) }

func field(samples []ProcessSample, f func(ProcessSample) float64) []float64 {
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = f(s)
	}
	return out
}
