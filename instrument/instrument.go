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

// clusterListTimeout bounds how long NewClient waits for a cluster client
// to load its node list when it has none yet.
const clusterListTimeout = 5 * time.Second

// Instrumentation observes what New or NewClient was given until Close.
type Instrumentation struct {
	in     *instruments
	cfg    config
	target target

	mu     sync.Mutex
	closed bool
	pools  []*observedPool
	nodes  map[*redis.Client]bool // cluster or ring nodes already observed

	reg       metric.Registration
	stops     []func()
	closeOnce sync.Once
	closeErr  error
}

// target is what an Instrumentation observes: one of its fields is set.
type target struct {
	pools   *pools.Pools
	client  *redis.Client // a plain or Sentinel failover client
	sharded shardedClient // a *redis.ClusterClient or *redis.Ring
}

// shardedClient is what a *redis.ClusterClient and a *redis.Ring have in
// common: a set of node clients that can change.
type shardedClient interface {
	OnNewNode(fn func(*redis.Client))
	ForEachShard(ctx context.Context, fn func(context.Context, *redis.Client) error) error
}

var (
	_ shardedClient = (*redis.ClusterClient)(nil)
	_ shardedClient = (*redis.Ring)(nil)
)

// New observes every role's pool of p (master, replica, local, async,
// each named by its role) and reports them as OpenTelemetry metrics until
// Close, with the health checks of each role. A disabled role's legacy
// clients (see pools.WithLegacyClients) are summed under the role's name,
// including clients made after New. The connections pools.New dialled
// before New (the async pool's MIN) are given their create times too (see
// pools.Pools.TakeDialTimes): there is no second step for the caller.
//
// For a plain go-redis client, a cluster or a ring, use NewClient. The
// metrics are listed in the package documentation.
//
// Call New once per *pools.Pools and MeterProvider at start-up, before the
// first command: connections dialled before New are counted, but their
// wait and use times, close reasons and lifetimes are not recorded (nor
// their create times, but for the shared pools' dials). A *pools.Pools, or
// one of its clients, that an open Instrumentation already observes
// through the same MeterProvider is refused with an error that wraps
// ErrAlreadyObserved, instead of being counted twice. Through another
// MeterProvider (a library's and the application's) it is observed again,
// each seeing every connection.
func New(p *pools.Pools, opts ...Option) (*Instrumentation, error) {
	if p == nil {
		return nil, errors.New("instrument: nil *pools.Pools")
	}
	i, err := start(newConfig(opts), target{pools: p})
	if err != nil {
		return nil, err
	}
	i.observePools(p)
	return i, nil
}

// NewClient observes the connection pools of a go-redis client that
// pools did not make, and reports them as OpenTelemetry metrics until
// Close. c is one of:
//
//   - *redis.Client, including a Sentinel failover client
//     (redis.NewFailoverClient), which needs WithPoolName; its pool is
//     named "host:port/db" by default.
//   - *redis.ClusterClient: one pool per node, named by the node's
//     address (with WithPoolName: "name/host:port"); nodes the client
//     discovers later are added as they appear. A cluster client that has
//     no node list yet loads one, for up to 5 seconds.
//   - *redis.Ring: one pool per shard, named like a cluster's nodes;
//     shards added later (SetAddrs) are added as they appear. Shards a
//     ring drops stay reported, holding no connections.
//
// Other implementations of redis.UniversalClient are refused. For the
// clients of a *pools.Pools use New, which names them by role and adds
// health: a client that an open Instrumentation already observes through
// the same MeterProvider (a *pools.Pools' client included) is refused with
// an error that wraps ErrAlreadyObserved. Call NewClient before the
// client's first command, as with New.
func NewClient(c redis.UniversalClient, opts ...ClientOption) (*Instrumentation, error) {
	cfg := newClientConfig(opts)
	t, err := clientTarget(c, cfg)
	if err != nil {
		return nil, err
	}
	i, err := start(cfg, t)
	if err != nil {
		return nil, err
	}
	if t.client != nil {
		i.observeClient(t.client)
	} else {
		i.observeSharded(t.sharded)
	}
	return i, nil
}

// clientTarget checks what NewClient was given.
func clientTarget(c redis.UniversalClient, cfg config) (target, error) {
	switch t := c.(type) {
	case *redis.Client:
		if t == nil {
			return target{}, errors.New("instrument: nil *redis.Client")
		}
		if cfg.poolName == "" && t.Options().Addr == failoverAddr {
			return target{}, errors.New("instrument: a Sentinel failover client has no fixed address to name its pool after; name it with WithPoolName")
		}
		return target{client: t}, nil
	case *redis.ClusterClient:
		if t == nil {
			return target{}, errors.New("instrument: nil *redis.ClusterClient")
		}
		return target{sharded: t}, nil
	case *redis.Ring:
		if t == nil {
			return target{}, errors.New("instrument: nil *redis.Ring")
		}
		return target{sharded: t}, nil
	}
	return target{}, fmt.Errorf("instrument: %T is not supported (want *redis.Client, *redis.ClusterClient or *redis.Ring; for *pools.Pools use New)", c)
}

// start checks the configuration, claims the target for the
// MeterProvider, creates the instruments and registers the callback.
func start(cfg config, t target) (*Instrumentation, error) {
	if err := checkBoundaries(cfg.boundaries); err != nil {
		return nil, err
	}
	cfg.command.producer = autoProducer(cfg.command, cfg.meterProvider)
	meter := cfg.meterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
	in, err := newInstruments(meter, cfg, t.pools != nil)
	if err != nil {
		return nil, err
	}
	i := &Instrumentation{in: in, cfg: cfg, target: t, nodes: map[*redis.Client]bool{}}
	if err := claim(i); err != nil {
		return nil, err
	}
	// The recorder goes in before any hook, so that every connection the
	// hooks wrap is reported.
	acquireRecorder()
	i.reg, err = meter.RegisterCallback(i.observe, in.observables()...)
	if err != nil {
		releaseRecorder()
		unclaim(i)
		return nil, err
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

// observeSharded observes every node of a cluster or ring client, and the
// nodes it adds later.
func (i *Instrumentation) observeSharded(sc shardedClient) {
	// OnNewNode first: a node created while the existing ones are listed
	// is then seen by one path or both (addNode keeps one), never by none.
	sc.OnNewNode(i.addNode)
	ctx, cancel := context.WithTimeout(context.Background(), clusterListTimeout)
	defer cancel()
	err := sc.ForEachShard(ctx, func(_ context.Context, node *redis.Client) error {
		i.addNode(node)
		return nil
	})
	if err != nil {
		otel.Handle(fmt.Errorf("instrument: listing the client's nodes: %w (nodes are added as the client discovers them)", err))
	}
}

// addNode observes a cluster or ring node's pool under its own name.
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
	recordEarlyDials(ps, byRole) // before any hook: see TakeDialTimes
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
	i.stops = append(i.stops, ps.OnClientClosed(func(r pools.Role, c *redis.Client) {
		if p := byRole[r]; p != nil {
			p.retire(c)
		}
	}))
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
			forgetPool(p)
		}
		i.closeErr = i.reg.Unregister()
		i.in.fast.close()
		releaseRecorder()
		unclaim(i)
	})
	return i.closeErr
}

// Shutdown is Close with the signature OpenTelemetry components use
// (for example to sit next to a MeterProvider's Shutdown). Nothing in Close
// waits, so ctx is not used.
func (i *Instrumentation) Shutdown(context.Context) error { return i.Close() }
