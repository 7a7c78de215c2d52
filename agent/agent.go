package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/procfs"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/internal/redisurl"
	"github.com/poolscope/poolscope/pools"
)

// ScopeName is the instrumentation scope of every metric the agent makes.
const ScopeName = "github.com/poolscope/poolscope/agent"

// Agent samples processes and Redis servers in the background; Start
// makes one, Close stops it. The metrics are observable instruments whose
// callback reads the latest samples, so exporting (the MeterProvider's
// business) never waits for sampling and sampling never waits for an
// exporter.
type Agent struct {
	cfg      *config
	logger   *slog.Logger
	problems *problems
	inst     instruments
	reg      metric.Registration

	// servers is the current list, replaced as a whole (a cluster's nodes
	// come and go); topoMu serialises the replacements. runCtx is the
	// context server goroutines derive from.
	servers atomic.Pointer[[]*server]
	topoMu  sync.Mutex
	runCtx  context.Context

	// Process sampling: fs and tracked are owned by the process goroutine;
	// procs is its latest snapshot, read by the callback.
	procRoot string
	fs       procfs.FS
	tracked  map[int]*trackedProcess
	// passServers are the servers of the current discovery pass: socket
	// indexes and connection counts refer to them by position.
	passServers []*server
	procs       atomic.Pointer[[]processSample]

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start validates the options, creates the instruments and starts sampling
// in the background: one goroutine per server and one for the processes.
// It fails only on options it cannot use (a malformed URL, unreadable TLS
// files, no /proc when processes are asked for); an unreachable server or a
// missing process is logged once and retried, never an error. Sampling
// stops when ctx ends or Close is called; call Close in any case to
// unregister the metrics.
func Start(ctx context.Context, opts ...Option) (*Agent, error) {
	cfg := newConfig(opts)
	a := &Agent{
		cfg:      cfg,
		logger:   cfg.logger,
		problems: newProblems(cfg.logger),
		procRoot: cfg.procRoot,
		tracked:  map[int]*trackedProcess{},
	}
	if err := a.addServers(); err != nil {
		return nil, err
	}
	watches, err := a.sentinelWatches()
	if err != nil {
		return nil, err
	}
	if len(a.serverList()) == 0 && len(watches) == 0 && !cfg.samplesProcesses() {
		return nil, fmt.Errorf("agent: nothing to sample: add servers (WithRedis, WithPoolsConfig) or processes (%s)", processSelectorNames())
	}
	if !cfg.serverMetrics && !cfg.samplesProcesses() {
		return nil, fmt.Errorf("agent: nothing to report: the server metrics are off (WithServerMetrics(false)) and no process is selected (%s)", processSelectorNames())
	}
	if cfg.samplesProcesses() {
		fs, err := procfs.NewFS(a.procRoot)
		if err != nil {
			return nil, fmt.Errorf("agent: processes cannot be sampled without %s: %w", a.procRoot, err)
		}
		a.fs = fs
	}

	meter := cfg.meterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
	inst, observables, err := newInstruments(meter)
	if err != nil {
		return nil, fmt.Errorf("agent: instruments: %w", err)
	}
	a.inst = inst
	if a.reg, err = meter.RegisterCallback(a.observe, observables...); err != nil {
		return nil, fmt.Errorf("agent: register callback: %w", err)
	}

	ctx, a.cancel = context.WithCancel(ctx)
	a.topoMu.Lock()
	a.runCtx = ctx
	for _, s := range a.serverList() {
		a.startServer(s)
	}
	a.topoMu.Unlock()
	for i, tmpl := range watches {
		a.wg.Go(func() { a.runSentinel(ctx, a.allSentinels()[i], tmpl) })
	}
	if cfg.samplesProcesses() {
		a.wg.Go(func() { a.runProcesses(ctx) })
	}
	return a, nil
}

// addServers collects the servers of WithRedis and WithPoolsConfig, each
// address once.
func (a *Agent) addServers() error {
	var errs []error
	var urls []string
	tlsBase := a.cfg.tlsConfig
	if pc := a.cfg.poolsConfig; pc != nil {
		for _, r := range pools.Roles {
			if rc := pc.Role(r); !rc.ViaSentinel {
				urls = append(urls, rc.URL) // the Sentinel's are found by sentinelWatches
			}
		}
		if tlsBase == nil && usesTLS(urls) {
			t, err := pc.TLSClientConfig()
			if err != nil {
				errs = append(errs, err)
			}
			tlsBase = t
		}
	}
	urls = append(urls, a.cfg.redisURLs...)

	seen := map[string]bool{}
	var servers []*server
	for _, u := range urls {
		s, err := newServer(u, tlsBase)
		if err != nil {
			errs = append(errs, fmt.Errorf("agent: Redis URL %q: %w", redisurl.Redact(u), err))
			continue
		}
		if seen[s.key()] {
			continue
		}
		seen[s.key()] = true
		servers = append(servers, s)
	}
	a.setServers(servers)
	a.warnUnverified()
	return errors.Join(errs...)
}

// allSentinels are the masters followed through Sentinel: WithSentinel's,
// and the pools configuration's when its roles follow Sentinel (reached
// with REDIS_MASTER_URL's credentials).
func (a *Agent) allSentinels() []sentinelWatch {
	out := a.cfg.sentinels
	if pc := a.cfg.poolsConfig; pc != nil && pc.Sentinel.Enabled() && pc.Master.ViaSentinel {
		out = append(out[:len(out):len(out)], sentinelWatch{masterName: pc.Sentinel.MasterName, addrs: pc.Sentinel.Addrs,
			password: pc.Sentinel.Password, nodeURL: pc.Master.URL})
	}
	return out
}

// sentinelWatches checks every Sentinel watch and returns the server each
// lends its URL from, in allSentinels' order.
func (a *Agent) sentinelWatches() ([]*server, error) {
	var errs []error
	var out []*server
	for _, w := range a.allSentinels() {
		tmpl, err := a.sentinelTemplate(w)
		if err != nil {
			errs = append(errs, fmt.Errorf("agent: Sentinel master %q: server URL %q: %w", w.masterName, redisurl.Redact(w.nodeURL), err))
			continue
		}
		if w.masterName == "" || len(w.addrs) == 0 {
			errs = append(errs, fmt.Errorf("agent: Sentinel master %q at %q: want a master name and at least one Sentinel address", w.masterName, w.addrs))
			continue
		}
		out = append(out, tmpl)
	}
	return out, errors.Join(errs...)
}

// warnUnverified says once, at start, which TLS servers the agent does not
// verify (InsecureSkipVerify, REDIS_TLS_INSECURE_SKIP_VERIFY=1 through
// WithPoolsConfig): anyone on the path can read and change what it sees.
func (a *Agent) warnUnverified() {
	var unverified []string
	for _, s := range a.serverList() {
		if s.tls != nil && s.tls.InsecureSkipVerify {
			unverified = append(unverified, s.display)
		}
	}
	if len(unverified) > 0 {
		a.logger.Warn("agent: TLS certificates of these Redis servers are NOT verified (InsecureSkipVerify)", "servers", unverified)
	}
}

// Servers lists the watched servers' URLs, passwords redacted, in the
// order they were given (each address once), followed by the cluster nodes
// found since.
func (a *Agent) Servers() []string {
	list := a.serverList()
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.display
	}
	return out
}

// serverList is the current list of servers; callers must not change it.
func (a *Agent) serverList() []*server {
	if p := a.servers.Load(); p != nil {
		return *p
	}
	return nil
}

func (a *Agent) setServers(list []*server) { a.servers.Store(&list) }

// startServer starts sampling s until the agent stops or s is removed;
// with the server metrics off, it starts following s's cluster topology
// instead (runTopology), and nothing for a server found through Sentinel.
// The caller holds topoMu.
func (a *Agent) startServer(s *server) {
	ctx, cancel := context.WithCancel(a.runCtx)
	s.cancel = cancel
	switch {
	case a.cfg.serverMetrics:
		a.wg.Go(func() { a.runServer(ctx, s) })
	case !s.viaSentinel():
		a.wg.Go(func() { a.runTopology(ctx, s) })
	}
}

// Close stops sampling, waits for the goroutines, closes the connections to
// the servers and unregisters the metrics callback, so that nothing is
// reported any more. It is safe to call more than once.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		a.cancel()
		a.wg.Wait()
		a.closeErr = a.reg.Unregister()
	})
	return a.closeErr
}

func usesTLS(urls []string) bool {
	for _, u := range urls {
		if strings.HasPrefix(u, "rediss://") {
			return true
		}
	}
	return false
}
