package instrument

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// nameDemandMax is the per-interval high-water mark of a pool's demand;
// nameDemand the histogram of the demand each caller finds as it gets a
// connection.
const (
	nameDemandMax     = "redis.client.connection.demand.max"
	nameDemand        = "redis.client.connection.demand"
	demandDescription = "Callers holding or waiting for a connection of the pool, the caller itself included, as each caller asked for one: " +
		"a pool of size N makes about the share of callers above N wait."
)

// demandBounds are the demand histogram's buckets: one per size up to 16,
// then about a quarter apart. Advice needs sizes, not a latency's range.
var demandBounds = [...]float64{
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024,
}

// demandLimits are the demand histogram's bucket limits.
var demandLimits = limitsOf(demandBounds[:], false)

// demand follows how many callers hold or wait for a pool's connections,
// and the most at once since the last collection: what the sampled gauges
// (count, pending_requests) miss between two collections. Every update is
// an atomic add (with a short CAS loop when the maximum grows); nothing
// allocates. Each caller also records the count it finds as it asks
// (itself included) in the pool's demand histogram
// (redis.client.connection.demand), which tells how often the pool reached
// each size, not only its peak: a burst of callers that wake together
// looks like random callers in the mean, but not there.
//
// It follows go-redis v9.23's recorder calls for one acquisition: pending
// +1 (no connection, the pool's name), then, on success, "used" +1 and
// pending -1 with the connection; on failure pending -1 without one; "used"
// -1 when the connection is given back or removed. Adding "used" and
// pending would count a caller twice between its "used" +1 and its pending
// -1, and count connections that go-redis moves to "used" without a caller
// (a stale idle connection closed while the caller goes on waiting). So a
// caller counts from its pending +1 until it gives up (pending -1 without a
// connection) or gives back the connection it got, which is stamped with
// its borrow time (trackedConn.borrowedAt) from its successful pending -1
// to its "used" -1: one counter, at most one add per event.
//
// The two counters share a cache line of their own, apart from the pool's
// fields that every event reads (closed, the histograms): without the
// padding, every update on one core would evict them from the other
// cores. Together, a caller's arrival (an add to now, a read of max)
// touches one line.
type demand struct {
	_   [64]byte
	now atomic.Int64 // callers waiting for or holding a connection
	max atomic.Int64 // most of now since the last collection
	_   [48]byte
}

// arrive counts a caller that starts asking for a connection, and returns
// how many callers hold or wait for one now, itself included.
func (d *demand) arrive() int64 {
	now := d.now.Add(1)
	raise(&d.max, now)
	return now
}

// raise makes a at least v.
func raise(a *atomic.Int64, v int64) {
	for m := a.Load(); v > m && !a.CompareAndSwap(m, v); m = a.Load() {
	}
}

// leave counts a caller that gave up (pool timeout, dial error, canceled)
// or gave back its connection.
func (d *demand) leave() {
	if d.now.Add(-1) < 0 { // see below
		d.now.Add(1)
	}
}

// handOver adds the callers counted under the pool's name before the name
// was learnt (see unnamedCallers): n still inside, peak the most of them at
// once.
func (d *demand) handOver(n, peak int64) {
	raise(&d.max, max(peak, d.now.Add(n)))
}

// collect returns the most callers at once since the last collection and
// starts the next interval at the current demand.
//
// A caller whose +1 poolscope never saw (it was inside Get when the
// recorder was installed, or its pool's name found the table of unknown
// names full: see unnamedCallers) would drive the count below zero as it
// leaves: leave takes that -1 back. The count heals itself: it undercounts
// only until it next reaches zero.
func (d *demand) collect() int64 {
	now := max(d.now.Load(), 0)
	return max(d.max.Swap(now), now)
}

// poolsNamed maps go-redis's pool names (Options.Addr plus a random id per
// client, with "_pipeline" for the pipeline pool) to the observed pools
// whose connections carry them. go-redis gives the name, not a connection,
// with a caller's pending +1; its pool registration (RegisterPool) names
// the pool too, but only to a recorder installed before the client was
// created, and clients usually come first (pools.New, then New): the name
// is learnt instead from the first successful acquisition of each tracked
// connection, which carries both. Until then the name's callers are
// counted in an entry of its own (unnamedCallers), handed to the pools
// when the name is learnt.
//
// The map is copied on every change (once per tracked connection at most,
// and at Close). Lookups go through a small cache indexed by the address
// of the name's bytes: go-redis passes the same string (its pool's
// cfg.Name) on every call, so a hit costs a load and a pointer comparison
// instead of hashing the name.
var poolsNamed struct {
	m     atomic.Pointer[map[string]*namedPools] // never modified once stored
	mu    sync.Mutex
	cache [256]atomic.Pointer[namedPools]

	// The names not learnt yet (see addUnnamed), guarded by mu.
	unnamed   int   // entries with waiting or ignored set
	nextSweep int64 // nanotime of the next sweep of idle entries
	// fullUntil (nanotime) spares the lock while the table is full.
	fullUntil atomic.Int64
}

// namedPools is one name's pools, or, while the name is not learnt, its
// callers (waiting set, pools nil), or nothing for a name no longer
// followed (ignored set: see ignoreUnnamed); never modified once stored.
type namedPools struct {
	name    string
	pools   []*observedPool
	waiting *unnamedCallers
	ignored bool
	// one holds pools when there is one (nearly always): a caller's
	// arrival reads the entry and its pools from one allocation.
	one [1]*observedPool
}

// newNamedPools is name's entry for pools.
func newNamedPools(name string, pools []*observedPool) *namedPools {
	e := &namedPools{name: name, pools: pools}
	if len(pools) == 1 {
		e.one[0] = pools[0]
		e.pools = e.one[:]
	}
	return e
}

// byName returns name's entry; nil when poolscope has none.
func byName(name string) *namedPools {
	slot := &poolsNamed.cache[uintptr(unsafe.Pointer(unsafe.StringData(name)))>>4%uintptr(len(poolsNamed.cache))]
	if e := slot.Load(); e != nil && e.name == name {
		return e
	}
	m := poolsNamed.m.Load()
	if m == nil {
		return nil
	}
	e := (*m)[name]
	if e == nil {
		return nil
	}
	slot.Store(e)
	if poolsNamed.m.Load() != m { // changed meanwhile: do not keep e
		slot.CompareAndSwap(e, nil)
	}
	return e
}

// learnNames records that the pools of c and of the wrappers inside it
// carry name, and hands them the callers counted under the name until now
// (the caller that teaches it included: it holds c and leaves at its
// "used" -1). It runs once per tracked connection.
func learnNames(ctx context.Context, name string, c *trackedConn) {
	poolsNamed.mu.Lock()
	var cur []*observedPool
	var w *unnamedCallers
	ignored := false
	if m := poolsNamed.m.Load(); m != nil && (*m)[name] != nil {
		cur, w, ignored = (*m)[name].pools, (*m)[name].waiting, (*m)[name].ignored
	}
	var added []*observedPool
	for ; c != nil; c = c.next() {
		if c.named.CompareAndSwap(false, true) && !slices.Contains(cur, c.pool) && !slices.Contains(added, c.pool) {
			added = append(added, c.pool)
		}
	}
	if len(added) == 0 {
		poolsNamed.mu.Unlock()
		return
	}
	if w != nil {
		// Sealed first: a caller that finds w sealed waits for mu, by
		// which time the pools hold w's callers and the map names them.
		n := w.seal()
		for _, p := range added {
			p.demand.handOver(n, w.max.Load())
		}
	}
	if w != nil || ignored {
		poolsNamed.unnamed--
		poolsNamed.fullUntil.Store(0) // room again
	}
	next := slices.DeleteFunc(slices.Clone(cur), func(q *observedPool) bool { return q.closed.Load() })
	updateNames(func(m map[string]*namedPools) { m[name] = newNamedPools(name, append(next, added...)) })
	poolsNamed.mu.Unlock()
	if w != nil {
		for _, p := range added {
			if !p.closed.Load() {
				w.replay(ctx, p.sets.demand)
			}
		}
	}
}

// forgetPool drops a closed pool from the names (Instrumentation.Close).
func forgetPool(p *observedPool) {
	poolsNamed.mu.Lock()
	defer poolsNamed.mu.Unlock()
	updateNames(func(m map[string]*namedPools) {
		for name, e := range m {
			if e.waiting != nil || e.ignored {
				continue
			}
			if list := slices.DeleteFunc(slices.Clone(e.pools), func(q *observedPool) bool { return q == p }); len(list) == 0 {
				delete(m, name)
			} else {
				m[name] = newNamedPools(name, list)
			}
		}
	})
}

// updateNames stores a changed copy of the names and empties the cache (a
// lookup that read the previous map takes back what it cached). The
// caller holds poolsNamed.mu.
func updateNames(change func(map[string]*namedPools)) {
	next := map[string]*namedPools{}
	if m := poolsNamed.m.Load(); m != nil {
		next = maps.Clone(*m)
	}
	change(next)
	poolsNamed.m.Store(&next)
	for i := range poolsNamed.cache {
		poolsNamed.cache[i].Store(nil)
	}
}
