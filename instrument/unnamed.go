package instrument

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// maxUnnamed bounds the names followed before they are learnt. Clients
// poolscope does not observe have names too, never learnt: their entries
// stay until the table is full, then the idle ones are dropped, at most
// once per unnamedSweepInterval. A name that finds the table full is not
// followed (its callers are missed as before: see demand.collect). An
// entry is about 600 bytes.
//
// maxReplay bounds the callers of a name whose finding is kept for the
// histogram (the first ones; the count and the peak take every caller):
// replaying them costs one histogram record each, once, in the command of
// the caller that teaches the name (about 0.7 ms for 1024 with the SDK's
// histogram). A pool goes past it only when its callers get connections
// poolscope did not dial for a long time (dialled before New).
//
// maxUnlearnt is how many callers a name may have before poolscope stops
// following it: one of its own pools learns its name at its first
// acquisition on a connection poolscope dialled, so a name with that many
// callers and none is almost surely a client poolscope does not observe,
// whose commands then cost a lookup and nothing more (see ignoreUnnamed).
const (
	maxUnnamed           = 128
	unnamedSweepInterval = time.Second
	maxReplay            = 1024
	maxUnlearnt          = 1 << 16
	numDemandBuckets     = len(demandBounds) + 1
)

// The fields of unnamedCallers.state.
const (
	unnamedCallersMask   = 1<<32 - 1 // callers inside
	unnamedBusyOne       = 1 << 32   // arrivals still recording what they found
	unnamedBusyMask      = (1<<16 - 1) << 32
	unnamedRecordedShift = 48 // arrivals whose finding is kept, up to maxReplay
	unnamedRecordedOne   = 1 << unnamedRecordedShift
	unnamedSealed        = 1 << 62
)

// unnamedCallers counts the callers of one go-redis pool whose name
// poolscope has not learnt yet (see poolsNamed): those still inside
// (arrived, minus those that gave up or got a connection poolscope did not
// dial), the most at once, and what each found as it arrived, in the
// demand histogram's buckets. learnNames hands them to the pools.
//
// Once sealed (the name learnt, or the entry dropped), the entry counts
// nothing more, and a caller that finds it sealed looks the name up again
// (retry). A seal waits for the arrivals still recording what they found.
type unnamedCallers struct {
	state    atomic.Int64 // see the constants above
	arrivals atomic.Int64 // every caller counted, for maxUnlearnt
	max      atomic.Int64 // beside state: every arrival reads it
	histMax  atomic.Int64 // the most that an arrival kept in buckets found
	buckets  [numDemandBuckets]struct{ n, sum atomic.Int64 }
}

// arrive counts a caller; false when the entry is sealed.
func (u *unnamedCallers) arrive() bool {
	var v, next int64
	for v = u.state.Load(); ; v = u.state.Load() {
		if v&unnamedSealed != 0 {
			return false
		}
		next = v + 1
		if v>>unnamedRecordedShift&(1<<12-1) < maxReplay {
			next += unnamedBusyOne + unnamedRecordedOne
		}
		if u.state.CompareAndSwap(v, next) {
			break
		}
	}
	n := v&unnamedCallersMask + 1
	raise(&u.max, n)
	if next-v == 1 {
		return true
	}
	raise(&u.histMax, n)
	b := &u.buckets[bucketOf(demandLimits, n)]
	b.n.Add(1)
	b.sum.Add(n)
	u.state.Add(-unnamedBusyOne) // seal waits for this
	return true
}

// leave counts a caller that gave up or got a connection poolscope did not
// dial; false when the entry is sealed.
func (u *unnamedCallers) leave() bool {
	for v := u.state.Load(); ; v = u.state.Load() {
		switch {
		case v&unnamedSealed != 0:
			return false
		case v&unnamedCallersMask == 0: // its +1 was not counted: see demand.collect
			return true
		case u.state.CompareAndSwap(v, v-1):
			return true
		}
	}
}

// seal stops the counting and returns the callers inside, once every
// arrival counted has recorded what it found. The caller holds
// poolsNamed.mu.
func (u *unnamedCallers) seal() int64 {
	v := u.state.Or(unnamedSealed)
	for v&unnamedBusyMask != 0 { // a few atomic operations away
		runtime.Gosched()
		v = u.state.Load()
	}
	return v & unnamedCallersMask
}

// sealIdle seals u if no caller is inside.
func (u *unnamedCallers) sealIdle() bool {
	for v := u.state.Load(); v&(unnamedCallersMask|unnamedBusyMask|unnamedSealed) == 0; v = u.state.Load() {
		if u.state.CompareAndSwap(v, v|unnamedSealed) {
			return true
		}
	}
	return false
}

// replay records in s what u's callers found as they arrived: the bucket
// counts, the sum and the largest value exactly (a bucket up to 16 holds one
// value; a wider one gets its count of values adding to its sum, as even as
// integers allow, and the largest itself). Once per learnt name, after
// seal.
func (u *unnamedCallers) replay(ctx context.Context, s *series) {
	peak := u.histMax.Load()
	top := bucketOf(demandLimits, peak)
	record := func(v int64) { s.recordValue(ctx, v, uint32(v)) }
	for b := range u.buckets {
		n, sum := u.buckets[b].n.Load(), u.buckets[b].sum.Load()
		if n > 0 && b == top {
			record(peak)
			n, sum = n-1, sum-peak
		}
		if n == 0 {
			continue
		}
		q, r := sum/n, sum%n
		for i := range n {
			record(q + min(max(r-i, 0), 1))
		}
	}
}

// arriveUnnamed counts a caller of a pool whose name is not known (e, its
// entry, nil when it has none yet).
func arriveUnnamed(ctx context.Context, name string, e *namedPools) {
	for {
		if e == nil {
			if e = addUnnamed(name); e == nil {
				return // the table is full
			}
		}
		if e.waiting == nil {
			arrive(ctx, e.pools)
			return
		}
		if e.waiting.arrive() {
			if e.waiting.arrivals.Add(1) == maxUnlearnt {
				ignoreUnnamed(name, e)
			}
			return
		}
		e = retry(name)
	}
}

// ignoreUnnamed stops following name, whose entry e has had maxUnlearnt
// callers and no name learnt: e is sealed (its callers dropped) and
// replaced by an entry without pools, so that the name's later callers
// cost a lookup. The entry still counts against maxUnnamed and is swept as
// an idle one; should one of poolscope's pools learn the name after all,
// learnNames replaces it (the callers before are missed, as without this
// table: see demand.collect).
func ignoreUnnamed(name string, e *namedPools) {
	poolsNamed.mu.Lock()
	defer poolsNamed.mu.Unlock()
	if m := poolsNamed.m.Load(); m == nil || (*m)[name] != e {
		return // learnt or dropped meanwhile
	}
	e.waiting.seal()
	updateNames(func(m map[string]*namedPools) { m[name] = &namedPools{name: name, ignored: true} })
}

// leaveUnnamed is arriveUnnamed's -1.
func leaveUnnamed(name string, e *namedPools) {
	for e != nil {
		if e.waiting == nil {
			leave(e.pools)
			return
		}
		if e.waiting.leave() {
			return
		}
		e = retry(name)
	}
}

// retry looks name up again after its entry was found sealed: it waits
// for poolsNamed.mu, held from the seal until the entry is replaced.
func retry(name string) *namedPools {
	poolsNamed.mu.Lock()
	poolsNamed.mu.Unlock() // an empty critical section: it only waits for the holder
	return byName(name)
}

// addUnnamed returns name's entry, adding an unnamed one; nil while the
// table is full.
func addUnnamed(name string) *namedPools {
	if nanotime() < poolsNamed.fullUntil.Load() {
		return nil
	}
	poolsNamed.mu.Lock()
	defer poolsNamed.mu.Unlock()
	if m := poolsNamed.m.Load(); m != nil && (*m)[name] != nil {
		return (*m)[name]
	}
	if poolsNamed.unnamed >= maxUnnamed && !sweepUnnamed(func(u *unnamedCallers) bool { return u.sealIdle() }) {
		return nil
	}
	e := &namedPools{name: name, waiting: &unnamedCallers{}}
	updateNames(func(m map[string]*namedPools) { m[name] = e })
	poolsNamed.unnamed++
	return e
}

// sweepUnnamed drops the unnamed entries that drop seals, at most once per
// unnamedSweepInterval, and reports whether the table has room. The caller
// holds poolsNamed.mu.
func sweepUnnamed(drop func(*unnamedCallers) bool) bool {
	now := nanotime()
	if now >= poolsNamed.nextSweep {
		poolsNamed.nextSweep = now + int64(unnamedSweepInterval)
		dropUnnamed(drop)
	}
	if poolsNamed.unnamed >= maxUnnamed {
		poolsNamed.fullUntil.Store(poolsNamed.nextSweep)
		return false
	}
	return true
}

// dropUnnamed removes the ignored entries and the unnamed ones that drop
// seals. The caller holds poolsNamed.mu.
func dropUnnamed(drop func(*unnamedCallers) bool) {
	updateNames(func(m map[string]*namedPools) {
		for name, e := range m {
			if e.ignored || e.waiting != nil && drop(e.waiting) {
				delete(m, name)
				poolsNamed.unnamed--
			}
		}
	})
}

// forgetUnnamed drops every unnamed entry: when poolscope's recorder is
// installed or removed, a caller's +1 or -1 may have gone to another
// recorder, and a count carried over could never heal (it would count a
// caller forever).
func forgetUnnamed() {
	poolsNamed.mu.Lock()
	defer poolsNamed.mu.Unlock()
	dropUnnamed(func(u *unnamedCallers) bool { u.seal(); return true })
	poolsNamed.nextSweep = 0
	poolsNamed.fullUntil.Store(0)
}
