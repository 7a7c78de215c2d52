package pools

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisurl"
)

// Pools holds the process's Redis pools, one per role. Use New (or
// FromEnv) once at start-up, share the *Pools, and Close it at shutdown.
//
// For an enabled role every Client call returns the same shared, size-capped
// client. For a disabled role the calls return, in turn, one of a fixed
// number of clients with go-redis's defaults (the behaviour before pooling:
// see WithLegacyClients), so that code written for the enabled case stays
// bounded with the flag off.
type Pools struct {
	cfg    Config
	pid    int
	logger *slog.Logger

	mu            sync.Mutex
	closed        bool
	shared        map[Role]*redis.Client
	legacy        map[Role]*legacyClients
	legacyClients int
	watchers      []*clientWatcher

	health *healthMonitor

	dialWrappers []DialWrapper
	dialTimes    *dialTimes
}

// clientWatcher is an OnNewClient (added) or OnClientClosed (closed)
// callback.
type clientWatcher struct{ added, closed func(Role, *redis.Client) }

// Option configures New.
type Option interface{ apply(*options) }

type options struct {
	logger         *slog.Logger
	dialWrappers   []DialWrapper
	defaultService string // WithDefaultServiceName
	legacyClients  int
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger for warnings and health transitions
// (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// FromEnv reads the environment (see the package documentation) and opens
// the pools.
func FromEnv(opts ...Option) (*Pools, error) {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return New(cfg, opts...)
}

// New opens the pools described by cfg (from LoadConfig or DefaultConfig)
// and starts one health loop per role. Enabled pools are created at once, so
// the async pool's MIN connections are dialled before New returns.
func New(cfg Config, opts ...Option) (*Pools, error) {
	o := options{logger: slog.Default(), legacyClients: DefaultLegacyClients}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.applyDefaultService(o.defaultService)
	cfg.logStartupWarnings(o.logger)
	if cfg.tlsConfig == nil && cfg.usesTLS() {
		t, errs := buildTLSConfig(cfg.TLS)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		cfg.tlsConfig = t
	}
	if cfg.usesTLS() && cfg.TLS.InsecureSkipVerify {
		o.logger.Warn("pools: TLS certificate verification is off (REDIS_TLS_INSECURE_SKIP_VERIFY): Redis server certificates are NOT verified; anyone on the path can read and change the traffic")
	}
	p := &Pools{
		cfg:           cfg,
		pid:           os.Getpid(),
		logger:        o.logger,
		shared:        map[Role]*redis.Client{},
		legacy:        map[Role]*legacyClients{},
		legacyClients: o.legacyClients,
		dialWrappers:  o.dialWrappers,
		dialTimes:     &dialTimes{},
	}
	for _, r := range Roles {
		if rc := cfg.Role(r); rc.Enabled {
			p.shared[r] = p.newClient(*rc, true)
		}
	}
	p.health = startHealth(p)
	return p, nil
}

// check catches a hand-built Config that LoadConfig would have refused.
func (c *Config) check() error {
	var errs []error
	for _, r := range Roles {
		rc := c.Role(r)
		if rc.Role != r {
			errs = append(errs, fmt.Errorf("pools: %s pool: Role field is %q", r, rc.Role))
		}
		if rc.Max < 1 || rc.Max > MaxPoolSize || rc.MinIdle < 0 || rc.MinIdle > rc.Max {
			errs = append(errs, fmt.Errorf("pools: %s pool: min %d, max %d: want 0 <= min <= max, 1 <= max <= %d", r, rc.MinIdle, rc.Max, MaxPoolSize))
		}
		if !rc.ViaSentinel || r == Master {
			if err := redisurl.Check(rc.URL); err != nil {
				errs = append(errs, fmt.Errorf("pools: %s pool: URL %q: %w", r, rc.RedactedURL(), err))
			}
		}
	}
	if c.PoolTimeout <= 0 || c.HealthCheckInterval <= 0 || c.IdleTimeout < 0 || c.MaxLifetime < 0 {
		errs = append(errs, errors.New("pools: pool timeout and health-check interval must be positive, idle timeout and max lifetime >= 0"))
	}
	if c.Sentinel.Enabled() && c.Sentinel.MasterName == "" {
		errs = append(errs, errors.New("pools: Sentinel addresses given without a master name"))
	}
	return errors.Join(errs...)
}

func (c *Config) usesTLS() bool {
	for _, r := range Roles {
		if c.Role(r).TLS() {
			return true
		}
	}
	return false
}

// Config is the configuration the pools were opened with.
func (p *Pools) Config() Config { return p.cfg }

// ClientName is the CLIENT SETNAME name of the role's connections.
func (p *Pools) ClientName(r Role) string { return ClientName(p.cfg.Service, r, p.pid) }

// Master is the pool for writes.
func (p *Pools) Master() *redis.Client { return p.Client(Master) }

// Replica is the pool for reads (a replica, or the master when no replica
// is configured).
func (p *Pools) Replica() *redis.Client { return p.Client(Replica) }

// Local is the pool for the local server.
func (p *Pools) Local() *redis.Client { return p.Client(Local) }

// Async is the pool for background work.
func (p *Pools) Async() *redis.Client { return p.Client(Async) }

// Client returns the role's shared client when the role's pool is enabled.
// When it is disabled, it returns the next of the role's legacy clients
// (clients with go-redis's defaults, WithLegacyClients of them, handed out
// in turn): calling it per request is as safe as with the pool on, and
// needs no Close. After Close it returns a closed client, whose commands
// fail with redis.ErrClosed. It panics on a role not in Roles.
//
// Do not Close a client it returned: other callers may hold the same one.
// Give a disabled role's client back with CloseClient, or just drop it.
func (p *Pools) Client(r Role) *redis.Client {
	rc := p.cfg.Role(r)
	if rc == nil {
		panic(fmt.Sprintf("pools: unknown role %q", r))
	}
	p.mu.Lock()
	c, ok := p.shared[r]
	p.mu.Unlock()
	if ok {
		return c
	}
	return p.legacyClient(*rc)
}

// Clients lists the role's clients: the shared one for an enabled pool; for
// a disabled one, its legacy clients made so far and not closed by
// CloseClient (at most WithLegacyClients of them).
func (p *Pools) Clients(r Role) []*redis.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.shared[r]; ok {
		return []*redis.Client{c}
	}
	if l := p.legacy[r]; l != nil {
		return l.clients()
	}
	return nil
}

// CloseClient gives back a client that Client returned. A disabled role's
// client is closed once every Client call that returned it was given back
// this way; its place then gets a new client at a later Client call, so
// that code that gives clients back after each use churns connections as
// it did before pooling. For the shared client of an enabled role it does
// nothing (the Pools own it; Close closes it), so callers can write
// `defer p.CloseClient(c)` whatever the role's flag. Give each client back
// at most once per Client call. A client that the Pools did not make is
// closed.
func (p *Pools) CloseClient(c *redis.Client) error {
	if c == nil {
		return nil
	}
	p.mu.Lock()
	for _, s := range p.shared {
		if s == c {
			p.mu.Unlock()
			return nil
		}
	}
	ours, last, role := false, false, Role("")
	for r, l := range p.legacy {
		if ours, last = l.giveBack(c); ours {
			role = r
			break
		}
	}
	watchers := append([]*clientWatcher(nil), p.watchers...)
	p.mu.Unlock()
	if ours && !last {
		return nil
	}
	if ours {
		for _, w := range watchers {
			if w.closed != nil {
				w.closed(role, c)
			}
		}
	}
	if err := c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}

// Shared reports whether the role's pool is enabled (one shared client).
func (p *Pools) Shared(r Role) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.shared[r]
	return ok
}

// OnNewClient calls fn for every client a disabled role makes from now on
// (instrument/ uses it to observe them), before any caller gets it.
// Existing clients are listed by Clients. remove stops the calls.
func (p *Pools) OnNewClient(fn func(Role, *redis.Client)) (remove func()) {
	return p.watch(&clientWatcher{added: fn})
}

// OnClientClosed calls fn for every client of a disabled role that
// CloseClient is about to close, once its last holder gave it back; the
// client has already left Clients. instrument/ uses it to keep the
// client's counters. remove stops the calls.
func (p *Pools) OnClientClosed(fn func(Role, *redis.Client)) (remove func()) {
	return p.watch(&clientWatcher{closed: fn})
}

func (p *Pools) watch(w *clientWatcher) (remove func()) {
	p.mu.Lock()
	p.watchers = append(p.watchers, w)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, x := range p.watchers {
			if x == w {
				p.watchers = append(p.watchers[:i:i], p.watchers[i+1:]...)
				return
			}
		}
	}
}

// Close stops the health loops and closes every client the pools made,
// shared or not. It is safe to call more than once.
func (p *Pools) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var clients []*redis.Client
	for _, c := range p.shared {
		clients = append(clients, c)
	}
	for _, l := range p.legacy {
		clients = append(clients, l.clients()...)
	}
	p.legacy = map[Role]*legacyClients{}
	p.mu.Unlock()

	p.health.stop()
	var errs []error
	for _, c := range clients {
		if err := c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newClient builds a client for rc. shared selects the size-capped pool
// settings; otherwise go-redis's defaults apply (only the address, the
// credentials, TLS and the client name are set).
func (p *Pools) newClient(rc RoleConfig, shared bool) *redis.Client {
	base, _ := redis.ParseURL(rc.URL) // validated by LoadConfig and check
	if base == nil {
		base = &redis.Options{}
	}
	base.ClientName = p.ClientName(rc.Role)
	if base.TLSConfig != nil || (rc.ViaSentinel && p.cfg.Master.TLS()) {
		base.TLSConfig = p.tlsFor(base.TLSConfig)
	}
	var gate *dialGate
	var conns *connSet
	if shared {
		p.applyPoolSettings(base, rc)
		gate = newDialGate(rc.Role, rc.Max)
		conns = newConnSet()
	}
	if shared || len(p.dialWrappers) > 0 {
		base.Dialer = p.dialerFor(rc.Role, base, gate, conns)
	}
	var c *redis.Client
	if rc.ViaSentinel {
		c = redis.NewFailoverClient(p.failoverOptions(base, rc.Role == Replica))
	} else {
		c = redis.NewClient(base)
	}
	if shared {
		c.AddHook(&timeoutHook{role: rc.Role, client: c, conns: conns, max: rc.Max, wait: p.cfg.PoolTimeout})
	}
	return c
}

// applyPoolSettings makes the pool shared and hard-capped.
func (p *Pools) applyPoolSettings(o *redis.Options, rc RoleConfig) {
	o.PoolSize = rc.Max
	o.MaxActiveConns = rc.Max
	o.MinIdleConns = rc.MinIdle
	o.PoolTimeout = p.cfg.PoolTimeout
	o.ConnMaxIdleTime = p.cfg.IdleTimeout
	if o.ConnMaxIdleTime == 0 {
		o.ConnMaxIdleTime = -1 // go-redis reads 0 as "30 minutes", -1 as off
	}
	o.ConnMaxLifetime = p.cfg.MaxLifetime
	// Connections dialled together would otherwise all expire together.
	o.ConnMaxLifetimeJitter = p.cfg.MaxLifetime / 10
	// go-redis keeps a second pool for pipelines (10 connections by
	// default) that MaxActiveConns does not cover, so a pipeline-heavy
	// caller could hold Max+10 connections. A negative size turns it off:
	// pipelines then take their connection from the capped main pool.
	o.PipelinePoolSize = -1
	// One dial per attempt: the pool's dial gate backs off from a failing
	// server instead of go-redis sleeping 100 ms between 5 attempts with
	// the caller waiting; go-redis's command retries (MaxRetries) remain.
	o.DialerRetries = 1
}

// tlsFor clones the configured TLS settings, keeping the server name that
// go-redis derived from the URL's host when REDIS_TLS_SERVER_NAME is unset.
func (p *Pools) tlsFor(fromURL *tls.Config) *tls.Config {
	t := p.cfg.tlsConfig.Clone()
	if t.ServerName == "" && fromURL != nil {
		t.ServerName = fromURL.ServerName
	}
	return t
}

// failoverOptions turns the options built for a URL into Sentinel options.
// The master URL supplies credentials, database and TLS; its host is
// ignored since Sentinel names the master.
func (p *Pools) failoverOptions(o *redis.Options, replicaOnly bool) *redis.FailoverOptions {
	if master, err := redis.ParseURL(p.cfg.Master.URL); err == nil {
		o.Username, o.Password, o.DB = master.Username, master.Password, master.DB
	}
	return &redis.FailoverOptions{
		MasterName:            p.cfg.Sentinel.MasterName,
		SentinelAddrs:         p.cfg.Sentinel.Addrs,
		SentinelPassword:      p.cfg.Sentinel.Password.Value(),
		ReplicaOnly:           replicaOnly,
		ClientName:            o.ClientName,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		TLSConfig:             o.TLSConfig,
		PoolSize:              o.PoolSize,
		MaxActiveConns:        o.MaxActiveConns,
		MinIdleConns:          o.MinIdleConns,
		PoolTimeout:           o.PoolTimeout,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,
		Dialer:                o.Dialer,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         o.DialerRetries,
		PipelinePoolSize:      o.PipelinePoolSize,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
	}
}

// healthClient is a one-connection client used only by the role's health
// loop, so that a check never waits behind callers for a pool slot (an
// exhausted pool is not a down server). Its connections are named
// "service:health:pid" and so are not counted against the role's cap.
func (p *Pools) healthClient(rc RoleConfig) *redis.Client {
	o, _ := redis.ParseURL(rc.URL)
	if o == nil {
		o = &redis.Options{}
	}
	o.ClientName = ClientName(p.cfg.Service, "health", p.pid)
	if o.TLSConfig != nil || (rc.ViaSentinel && p.cfg.Master.TLS()) {
		o.TLSConfig = p.tlsFor(o.TLSConfig)
	}
	timeout := p.cfg.healthCheckTimeout()
	o.PoolSize, o.MaxActiveConns = 1, 1
	o.MaxRetries = -1 // one attempt per check: the loop itself retries
	// go-redis otherwise dials up to 5 times, 100 ms apart, inside one
	// check; a refused dial should fail the check at once.
	o.DialerRetries = 1
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
	o.ConnMaxIdleTime = -1
	if rc.ViaSentinel {
		return redis.NewFailoverClient(p.failoverOptions(o, rc.Role == Replica))
	}
	return redis.NewClient(o)
}
