package instrument

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/pools"
)

// observedPool is one named pool: a *redis.Client's pools (regular,
// pipeline, pub/sub), a cluster node's, or every client of a pools role.
// Its attribute sets are built once; the recorder and the dial hook reach it
// through the connections they see.
type observedPool struct {
	// closed turns every hook and recorder path of the pool into a no-op
	// once its Instrumentation is closed (go-redis cannot remove a hook).
	// It and the start of sets are what every recorder event reads: one
	// cache line.
	closed atomic.Bool
	sets   poolSets
	name   string
	in     *instruments

	// demand is the high-water mark of callers holding or waiting for a
	// connection, kept by the recorder.
	demand demand

	// clients lists the pool's clients at observation time.
	clients func() []*redis.Client
	// health is the pool's current health; nil for a plain client.
	health func() pools.HealthStatus

	mu sync.Mutex
	// hooked remembers which clients carry the dial hook, so that a client
	// reported twice (listed and announced at once) is hooked once.
	hooked map[weak.Pointer[redis.Client]]struct{}
	// last holds each client's counters at the previous observation, and
	// totals the sum of every increase seen since New: a counter stays
	// monotonic when a client is garbage collected (disabled pools) or a
	// go-redis uint32 counter wraps.
	last   map[weak.Pointer[redis.Client]]poolCounters
	totals [numCounters]uint64
	// retired lists the clients pools closed (see retire): their counters
	// are in totals, and an observation that still lists them skips them.
	retired map[weak.Pointer[redis.Client]]struct{}
}

func newObservedPool(name string, srv server, in *instruments, extras []attribute.KeyValue, clients func() []*redis.Client) *observedPool {
	return &observedPool{
		name:    name,
		in:      in,
		sets:    newPoolSets(name, srv, extras, in),
		clients: clients,
		hooked:  map[weak.Pointer[redis.Client]]struct{}{},
		last:    map[weak.Pointer[redis.Client]]poolCounters{},
		retired: map[weak.Pointer[redis.Client]]struct{}{},
	}
}

// hook adds the dial hook to c unless c has it already.
func (p *observedPool) hook(c *redis.Client) {
	if c == nil || p.closed.Load() {
		return
	}
	k := weak.Make(c)
	p.mu.Lock()
	_, done := p.hooked[k]
	p.hooked[k] = struct{}{}
	p.mu.Unlock()
	if !done {
		c.AddHook(newDialHook(p, c.Options()))
		p.in.tracing.add(c)
	}
}

// The cumulative PoolStats counters, in the order of poolCounters.
const (
	counterHits = iota
	counterMisses
	counterTimeouts
	counterWaits
	counterStale
	counterUnusable
	numCounters
)

// poolCounters are one client's cumulative counters, regular and pipeline
// pools added (uint32 arithmetic, as go-redis keeps them).
type poolCounters [numCounters]uint32

func countersOf(s *redis.PoolStats) poolCounters {
	c := poolCounters{s.Hits, s.Misses, s.Timeouts, s.WaitCount, s.StaleConns, s.Unusable}
	if p := s.PipelineStats; p != nil {
		c[counterHits] += p.Hits
		c[counterMisses] += p.Misses
		c[counterTimeouts] += p.Timeouts
		c[counterWaits] += p.WaitCount
		c[counterStale] += p.StaleConns
		c[counterUnusable] += p.Unusable
	}
	return c
}

// poolState is what one observation reports for a pool, summed over its
// clients.
type poolState struct {
	regularIdle, regularUsed   int64
	pipelineIdle, pipelineUsed int64
	hasPipeline                bool
	pubsubUsed                 int64
	pending                    int64
	max, idleMax, idleMin      int64
}

func (s *poolState) add(st *redis.PoolStats, o *redis.Options) {
	s.regularIdle += int64(st.IdleConns)
	s.regularUsed += max(int64(st.TotalConns)-int64(st.IdleConns), 0)
	s.pending += int64(st.PendingRequests)
	if p := st.PipelineStats; p != nil {
		s.hasPipeline = true
		s.pipelineIdle += int64(p.IdleConns)
		s.pipelineUsed += max(int64(p.TotalConns)-int64(p.IdleConns), 0)
		s.pending += int64(p.PendingRequests)
	}
	s.pubsubUsed += int64(st.PubSubStats.Active)

	regular := int64(o.PoolSize)
	if o.MaxActiveConns > 0 {
		regular = int64(o.MaxActiveConns)
	}
	// go-redis gives every client a separate pipeline pool that does not
	// count against MaxActiveConns: the client's real ceiling is the sum.
	var pipeline int64
	switch {
	case o.PipelinePoolSize > 0:
		pipeline = int64(o.PipelinePoolSize)
	case o.PipelinePoolSize == 0:
		pipeline = redis.DefaultPipelinePoolSize
	}
	// The pipeline pool inherits MaxIdleConns (0: no limit below its size).
	idleMax := func(size int64) int64 {
		if o.MaxIdleConns > 0 && int64(o.MaxIdleConns) < size {
			return int64(o.MaxIdleConns)
		}
		return size
	}
	s.max += regular + pipeline
	s.idleMax += idleMax(regular) + idleMax(pipeline)
	s.idleMin += int64(o.MinIdleConns)
}

// observe reports the pool's current state and counters. PoolStats are read
// here, once per collection, never on a command's path.
func (p *observedPool) observe(o metric.Observer) {
	clients := p.clients()
	var s poolState
	p.mu.Lock()
	next := make(map[weak.Pointer[redis.Client]]poolCounters, len(clients))
	for _, c := range clients {
		k := weak.Make(c)
		if _, gone := p.retired[k]; gone {
			continue
		}
		st := c.PoolStats()
		s.add(st, c.Options())
		cur := countersOf(st)
		prev := p.last[k]
		for i := range cur {
			p.totals[i] += uint64(cur[i] - prev[i])
		}
		next[k] = cur
	}
	p.last = next
	totals := p.totals
	for k := range p.hooked {
		if k.Value() == nil {
			delete(p.hooked, k)
		}
	}
	for k := range p.retired {
		if k.Value() == nil {
			delete(p.retired, k)
		}
	}
	p.mu.Unlock()

	in, sets := p.in, &p.sets
	o.ObserveInt64(in.count.Inst(), s.regularIdle, sets.regularIdle...)
	o.ObserveInt64(in.count.Inst(), s.regularUsed, sets.regularUsed...)
	if s.hasPipeline {
		o.ObserveInt64(in.count.Inst(), s.pipelineIdle, sets.pipelineIdle...)
		o.ObserveInt64(in.count.Inst(), s.pipelineUsed, sets.pipelineUsed...)
	}
	o.ObserveInt64(in.count.Inst(), s.pubsubUsed, sets.pubsubUsed...)
	o.ObserveInt64(in.max.Inst(), s.max, sets.observe...)
	o.ObserveInt64(in.idleMax.Inst(), s.idleMax, sets.observe...)
	o.ObserveInt64(in.idleMin.Inst(), s.idleMin, sets.observe...)
	o.ObserveInt64(in.pending.Inst(), s.pending, sets.observe...)
	o.ObserveInt64(in.demandMax, p.demand.collect(), sets.observe...)
	o.ObserveInt64(in.timeouts.Inst(), int64(totals[counterTimeouts]), sets.observe...)
	o.ObserveInt64(in.hits, int64(totals[counterHits]), sets.observe...)
	o.ObserveInt64(in.misses, int64(totals[counterMisses]), sets.observe...)
	o.ObserveInt64(in.waits, int64(totals[counterWaits]), sets.observe...)
	o.ObserveInt64(in.stale, int64(totals[counterStale]), sets.observe...)
	o.ObserveInt64(in.unusable, int64(totals[counterUnusable]), sets.observe...)

	if p.health != nil && in.healthUp != nil {
		if h := p.health(); h.Checked {
			up := int64(0)
			if h.Healthy {
				up = 1
			}
			o.ObserveInt64(in.healthUp, up, sets.observe...)
		}
	}
}

// retire adds the counters of c, which pools is about to close and drop
// from the role's clients (CloseClient), to the totals, so that what a
// short-lived client counted between two observations is not lost.
func (p *observedPool) retire(c *redis.Client) {
	k := weak.Make(c)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, done := p.retired[k]; done {
		return
	}
	p.retired[k] = struct{}{}
	cur, prev := countersOf(c.PoolStats()), p.last[k]
	for i := range cur {
		p.totals[i] += uint64(cur[i] - prev[i])
	}
	delete(p.last, k)
}

// recordClose counts a closed connection and its lifetime.
func (p *observedPool) recordClose(ctx context.Context, r closeReason, lifetime time.Duration, shard uint32) {
	p.in.closed.Add(ctx, 1, p.sets.closed[r]...)
	p.sets.lifetime[r].record(ctx, lifetime, shard)
}

// recordHealthCheck counts one health check of a pools role.
func (p *observedPool) recordHealthCheck(ctx context.Context, hc pools.HealthCheck) {
	if p.closed.Load() || p.in.healthChecks == nil {
		return
	}
	o := outcomeError
	switch hc.Outcome {
	case pools.HealthOK:
		o = outcomeOK
	case pools.HealthTimeout:
		o = outcomeTimeout
	}
	p.in.healthChecks.Add(ctx, 1, p.sets.healthChecks[o]...)
	p.sets.healthDuration[o].record(ctx, hc.Duration, 0)
}
