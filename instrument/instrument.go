package instrument

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/pools"
)

// ScopeName is the instrumentation scope of every metric.
const ScopeName = "github.com/poolscope/poolscope/instrument"

// clusterListTimeout bounds how long New waits for a cluster client to load
// its node list when it has none yet.
const clusterListTimeout = 5 * time.Second

// Instrumentation observes the pools given to New until Close.
type Instrumentation struct {
	in  *instruments
	cfg config

	mu     sync.Mutex
	closed bool
	pools  []*observedPool
	nodes  map[*redis.Client]bool // cluster nodes already observed

	reg       metric.Registration
	stops     []func()
	closeOnce sync.Once
	closeErr  error
}

// New observes the connection pools of target and reports them as
// OpenTelemetry metrics until Close. target is one of:
//
//   - *pools.Pools: every role's pool, named by its role (master, replica,
//     local, async). A disabled role hands out a new client per call; their
//     stats are summed under the role's name, including clients created
//     after New. Health checks are reported too.
//   - *redis.Client, including a Sentinel failover client
//     (redis.NewFailoverClient), which needs WithPoolName.
//   - *redis.ClusterClient: one pool per node, named by the node's
//     address (with WithPoolName: "name/host:port"); nodes the client
//     discovers later are added as they appear. A cluster client that has
//     no node list yet loads one, for up to 5 seconds.
//
// Call New once per client at start-up, before the first command:
// connections dialled before New are counted, but their wait, use and
// create times, close reasons and lifetimes are not recorded.
//
// # Metrics
//
// Every metric carries db.client.connection.pool.name, db.system.name
// ("redis"), server.address and server.port (a unix socket: its path and no
// port; a Sentinel-managed pool: neither, its address changes with each
// failover), and the WithAttributes extras. Durations are histograms in
// seconds with the WithHistogramBoundaries buckets (default 10 us to 10 s).
//
//	name                                   instrument               unit          extra attributes and meaning
//	db.client.connection.count             UpDownCounter (async)    {connection}  db.client.connection.state=idle|used, redis.client.connection.kind=regular|pipeline|pubsub (pubsub is always used)
//	db.client.connection.idle.max          UpDownCounter (async)    {connection}  most idle connections kept: regular pool (MaxIdleConns, else its cap) plus pipeline pool
//	db.client.connection.idle.min          UpDownCounter (async)    {connection}  MinIdleConns
//	db.client.connection.max               UpDownCounter (async)    {connection}  most connections open: regular pool cap (MaxActiveConns, else PoolSize) plus pipeline pool size
//	db.client.connection.pending_requests  UpDownCounter (async)    {request}     callers waiting for a connection now
//	db.client.connection.timeouts          Counter (async)          {timeout}     callers that gave up waiting (PoolTimeout)
//	db.client.connection.create_time       Histogram                s             dial + TLS + handshake of each new connection
//	db.client.connection.wait_time         Histogram                s             wait for a turn in the pool, every acquisition
//	db.client.connection.use_time          Histogram                s             borrow to return (or removal) of a connection
//	redis.client.connection.closed         Counter                  {connection}  reason=idle_timeout|max_lifetime|stale|error|pool_closed|failover|other
//	redis.client.connection.lifetime       Histogram                s             reason as above; dial to close
//	redis.client.connection.hits           Counter (async)          {hit}         a free connection was found in the pool
//	redis.client.connection.misses         Counter (async)          {miss}        none was free: a new one was dialled
//	redis.client.connection.waits          Counter (async)          {wait}        a caller waited for a turn and got one (timed-out waits are in timeouts)
//	redis.client.connection.stale          Counter (async)          {connection}  connections removed from the pool (go-redis StaleConns: every removal but pool Close)
//	redis.client.connection.unusable       Counter (async)          {connection}  go-redis Unusable (never incremented by go-redis v9.23)
//	redis.client.health.checks             Counter                  {check}       *pools.Pools only; outcome=ok|error|timeout
//	redis.client.health.duration           Histogram                s             *pools.Pools only; outcome as above
//	redis.client.health.up                 Gauge (async)            {status}      *pools.Pools only; 1 healthy, 0 failing; absent before the first check
//	db.client.operation.duration           Histogram                s             db.operation.name (a fixed set of command names, PIPELINE, MULTI, else "other"), error.type on failure only; go-redis's own measurement, retries included (WithCommandLatency)
//
// The asynchronous instruments are read by one callback per
// Instrumentation from go-redis's PoolStats at collection time; nothing is
// read on a command's path. The histograms and close counts come from
// poolscope's go-redis recorder (redis.SetOTelRecorder), which allocates
// nothing per command; go-redis keeps one recorder per process, shared by
// every Instrumentation (see ErrRecorderReplaced). With WithProducer the
// histograms are lock-free and exported by a Producer attached to the
// readers, at a fraction of the SDK's cost per command (see Producer).
func New(target any, opts ...Option) (*Instrumentation, error) {
	cfg := newConfig(opts)
	if err := checkBoundaries(cfg.boundaries); err != nil {
		return nil, err
	}
	p, isPools := target.(*pools.Pools)
	switch t := target.(type) {
	case *pools.Pools:
		if t == nil {
			return nil, errors.New("instrument: nil *pools.Pools")
		}
		if cfg.poolName != "" {
			return nil, fmt.Errorf("instrument: WithPoolName(%q) does not apply to *pools.Pools, whose pools are named by role", cfg.poolName)
		}
	case *redis.Client:
		if t == nil {
			return nil, errors.New("instrument: nil *redis.Client")
		}
		if cfg.poolName == "" && t.Options().Addr == failoverAddr {
			return nil, errors.New("instrument: a Sentinel failover client has no fixed address to name its pool after; name it with WithPoolName")
		}
	case *redis.ClusterClient:
		if t == nil {
			return nil, errors.New("instrument: nil *redis.ClusterClient")
		}
	default:
		return nil, fmt.Errorf("instrument: %T is not supported (want *pools.Pools, *redis.Client or *redis.ClusterClient)", target)
	}
	if cfg.dialTimer != nil && !isPools {
		return nil, fmt.Errorf("instrument: WithPoolsDialTimer applies to *pools.Pools only, not to %T", target)
	}

	meter := cfg.meterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
	in, err := newInstruments(meter, cfg, isPools)
	if err != nil {
		return nil, err
	}
	i := &Instrumentation{in: in, cfg: cfg, nodes: map[*redis.Client]bool{}}
	// The recorder goes in before any hook, so that every connection the
	// hooks wrap is reported.
	acquireRecorder()
	i.reg, err = meter.RegisterCallback(i.observe, in.observables()...)
	if err != nil {
		releaseRecorder()
		return nil, err
	}

	switch t := target.(type) {
	case *pools.Pools:
		i.observePools(p)
	case *redis.Client:
		i.observeClient(t)
	case *redis.ClusterClient:
		i.observeCluster(t)
	}
	return i, nil
}

func checkBoundaries(b []float64) error {
	if len(b) == 0 {
		return errors.New("instrument: WithHistogramBoundaries: no boundaries")
	}
	for k, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("instrument: WithHistogramBoundaries: boundary %d is %v, want a finite number", k, v)
		}
		if k > 0 && v <= b[k-1] {
			return fmt.Errorf("instrument: WithHistogramBoundaries: boundary %d (%v) is not larger than the one before (%v)", k, v, b[k-1])
		}
	}
	return nil
}

// addPool starts observing p; false when the Instrumentation is closed.
func (i *Instrumentation) addPool(p *observedPool) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return false
	}
	i.pools = append(i.pools, p)
	return true
}

func (i *Instrumentation) observeClient(c *redis.Client) {
	o := c.Options()
	name := i.cfg.poolName
	if name == "" {
		name = o.Addr + "/" + strconv.Itoa(o.DB)
	}
	p := newObservedPool(name, serverOf(o), i.in, i.cfg.attrs, func() []*redis.Client { return []*redis.Client{c} })
	i.addPool(p)
	p.hook(c)
}

func (i *Instrumentation) observeCluster(cc *redis.ClusterClient) {
	// OnNewNode first: a node created while the existing ones are listed
	// is then seen by one path or both (addNode keeps one), never by none.
	cc.OnNewNode(i.addNode)
	ctx, cancel := context.WithTimeout(context.Background(), clusterListTimeout)
	defer cancel()
	err := cc.ForEachShard(ctx, func(_ context.Context, node *redis.Client) error {
		i.addNode(node)
		return nil
	})
	if err != nil {
		otel.Handle(fmt.Errorf("instrument: listing the cluster's nodes: %w (nodes are added as the client discovers them)", err))
	}
}

// addNode observes a cluster node's pool under its own name.
func (i *Instrumentation) addNode(node *redis.Client) {
	o := node.Options()
	name := o.Addr
	if i.cfg.poolName != "" {
		name = i.cfg.poolName + "/" + o.Addr
	}
	i.mu.Lock()
	if i.closed || i.nodes[node] {
		i.mu.Unlock()
		return
	}
	i.nodes[node] = true
	p := newObservedPool(name, serverOf(o), i.in, i.cfg.attrs, func() []*redis.Client { return []*redis.Client{node} })
	i.pools = append(i.pools, p)
	i.mu.Unlock()
	p.hook(node)
}

func (i *Instrumentation) observePools(ps *pools.Pools) {
	cfg := ps.Config()
	byRole := make(map[pools.Role]*observedPool, len(pools.Roles))
	for _, r := range pools.Roles {
		rc := cfg.Role(r)
		var srv server
		if o, err := redis.ParseURL(rc.URL); err == nil && !rc.ViaSentinel {
			srv = serverOf(o)
		}
		p := newObservedPool(string(r), srv, i.in, i.cfg.attrs, func() []*redis.Client { return ps.Clients(r) })
		p.health = func() pools.HealthStatus { return ps.Health(r) }
		byRole[r] = p
		i.addPool(p)
	}
	if t := i.cfg.dialTimer; t != nil {
		t.attach(byRole) // before any hook: see attach
	}
	// Watch for new clients before listing the existing ones, so that none
	// falls in between (hook ignores a client it has seen).
	i.stops = append(i.stops, ps.OnNewClient(func(r pools.Role, c *redis.Client) {
		if p := byRole[r]; p != nil {
			p.hook(c)
		}
	}))
	for r, p := range byRole {
		for _, c := range ps.Clients(r) {
			p.hook(c)
		}
	}
	i.stops = append(i.stops, ps.OnHealthCheck(func(hc pools.HealthCheck) {
		if p := byRole[hc.Role]; p != nil {
			p.recordHealthCheck(context.Background(), hc)
		}
	}))
}

// observe is the one callback: it reads every pool's stats.
func (i *Instrumentation) observe(ctx context.Context, o metric.Observer) error {
	checkRecorder()
	i.in.fast.collected(ctx)
	i.mu.Lock()
	ps := slices.Clone(i.pools)
	i.mu.Unlock()
	for _, p := range ps {
		p.observe(o)
	}
	return nil
}

// Close stops the observation: the callback is unregistered, the pools
// watchers are removed, the hooks already added to clients (go-redis cannot
// remove them) become no-ops, and the last Instrumentation of the process
// detaches poolscope's go-redis recorder. It starts no goroutine and leaves
// none. It does not close the pools or clients. Calling it again returns
// the first call's result.
func (i *Instrumentation) Close() error {
	i.closeOnce.Do(func() {
		i.mu.Lock()
		i.closed = true
		ps := i.pools
		i.mu.Unlock()
		for _, stop := range i.stops {
			stop()
		}
		for _, p := range ps {
			p.closed.Store(true)
		}
		i.closeErr = i.reg.Unregister()
		releaseRecorder()
	})
	return i.closeErr
}

// Shutdown is Close with the signature OpenTelemetry components use
// (for example to sit next to a MeterProvider's Shutdown). Nothing in Close
// waits, so ctx is not used.
func (i *Instrumentation) Shutdown(context.Context) error { return i.Close() }
