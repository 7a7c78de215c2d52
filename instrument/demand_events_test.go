package instrument

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// eventPool is an observedPool whose connections carry a pool name of
// their own, for replaying go-redis's recorder calls.
type eventPool struct {
	t      *testing.T
	p      *observedPool
	reader *sdkmetric.ManualReader
	name   string
}

var eventPoolNames atomic.Int64

func newEventPool(t *testing.T) *eventPool {
	p, r := testPool(t)
	return &eventPool{t: t, p: p, reader: r, name: fmt.Sprintf("127.0.0.1:6379_events%d", eventPoolNames.Add(1))}
}

// conn is a connection of the pool, wrapped by the dial hook of each of
// pools (the outermost first), or by none.
func (e *eventPool) conn(pools ...*observedPool) *fakeConnInfo {
	raw, peer := net.Pipe()
	e.t.Cleanup(func() { _ = raw.Close(); _ = peer.Close() })
	var c net.Conn = raw
	for i := len(pools) - 1; i >= 0; i-- {
		c = track(c, pools[i], 0)
	}
	return &fakeConnInfo{conn: c, expires: time.Now().Add(time.Hour), name: e.name}
}

func (e *eventPool) step(what string, wantNow, wantMax int64) {
	e.t.Helper()
	stepOf(e.t, e.p, what, wantNow, wantMax)
}

func stepOf(t *testing.T, p *observedPool, what string, wantNow, wantMax int64) {
	t.Helper()
	if now, peak := p.demand.now.Load(), p.demand.max.Load(); now != wantNow || peak != wantMax {
		t.Fatalf("after %s: demand now %d, max %d; want %d, %d", what, now, peak, wantNow, wantMax)
	}
}

// The events of one acquisition, in go-redis v9.23's order.
func (e *eventPool) ask()    { recorder{}.RecordPendingRequests(context.Background(), 1, nil, e.name) }
func (e *eventPool) giveUp() { recorder{}.RecordPendingRequests(context.Background(), -1, nil, e.name) }
func (e *eventPool) used(c *fakeConnInfo) {
	recorder{}.RecordConnectionCount(context.Background(), 1, c, "used", false)
}
func (e *eventPool) unused(c *fakeConnInfo) {
	recorder{}.RecordConnectionCount(context.Background(), -1, c, "used", false)
}
func (e *eventPool) got(c *fakeConnInfo) {
	e.used(c)
	recorder{}.RecordPendingRequests(context.Background(), -1, c, e.name)
}

// demandHist reads the demand histogram of a testPool's reader.
func demandHist(t *testing.T, r *sdkmetric.ManualReader) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == nameDemand && len(h.DataPoints) == 1 {
				return h.DataPoints[0]
			}
		}
	}
	return metricdata.HistogramDataPoint[float64]{}
}

// TestDemandFollowsGoRedisEvents replays go-redis v9.23's recorder calls
// for the acquisitions that a sum of its "used" and pending counts would
// get wrong: a caller is counted once between its "used" +1 and its
// pending -1, and a stale idle connection closed while its caller goes on
// waiting does not count.
func TestDemandFollowsGoRedisEvents(t *testing.T) {
	e := newEventPool(t)
	a, b := e.conn(e.p), e.conn(e.p)

	// The first acquisition teaches the pool's name; its caller was
	// counted under the name and is handed to the pool.
	e.ask()
	e.got(a)
	e.step("the acquisition that learns the name", 1, 1)
	e.unused(a)
	e.step("the first caller gone", 0, 1)

	// Caller 1 holds a; caller 2 arrives, finds a stale idle connection b
	// (closed: "used" +1 then -1) and waits on.
	e.ask()
	e.used(a)
	e.step("caller 1 between used +1 and pending -1", 1, 1)
	recorder{}.RecordPendingRequests(context.Background(), -1, a, e.name)
	e.step("caller 1 holding", 1, 1)
	e.ask()
	e.used(b)
	e.unused(b)
	e.step("caller 2 waiting after a stale connection", 2, 2)

	// Caller 1 gives a back; caller 2 takes it; caller 2 gives it back.
	e.unused(a)
	e.got(a)
	e.step("caller 2 holding", 1, 2)
	e.unused(a)
	e.step("idle", 0, 2)

	// A caller that gives up.
	e.ask()
	e.giveUp()
	e.step("a caller that timed out", 0, 2)

	if got := e.p.demand.collect(); got != 2 {
		t.Errorf("collect = %d, want the interval's peak, 2", got)
	}
	if got := e.p.demand.collect(); got != 0 {
		t.Errorf("collect = %d in an idle interval, want 0", got)
	}
}

// TestDemandCountsCallersBeforeTheNameIsLearnt replays callers that
// arrive before the pool's name is known, in each order go-redis can give
// their events: they are counted under the name and handed to the pool
// when the first tracked connection teaches it, the histogram included.
func TestDemandCountsCallersBeforeTheNameIsLearnt(t *testing.T) {
	e := newEventPool(t)
	a, b := e.conn(e.p), e.conn(e.p)
	untracked := e.conn()

	for range 5 { // callers 1-5 find 1, 2, 3, 4, 5
		e.ask()
	}
	e.giveUp() // one gives up before the name is known
	e.got(untracked)
	e.step("five callers, two gone, the name unknown", 0, 0)
	e.ask() // caller 6 finds 4
	e.got(a)
	e.step("the name learnt: the teacher and three callers inside, at most five", 4, 5)
	e.giveUp() // one that arrived before gives up after
	e.step("a caller counted under the name gives up", 3, 5)
	e.got(b)
	e.step("another holds b", 3, 5)
	e.giveUp()
	e.step("the last one gives up", 2, 5)
	e.ask() // caller 7 finds 3: counted in the pool directly
	e.step("a caller after the name is learnt", 3, 5)
	e.giveUp()
	e.unused(a)
	e.unused(b)
	e.step("idle", 0, 5)

	h := demandHist(t, e.reader)
	if h.Count != 7 || h.Sum != 1+2+3+4+5+4+3 {
		t.Errorf("demand histogram: %d callers summing %v, want 7 summing 22", h.Count, h.Sum)
	}
	if v, ok := h.Max.Value(); !ok || v != 5 {
		t.Errorf("demand histogram max = %v, want 5", v)
	}
	if v, ok := h.Min.Value(); !ok || v != 1 {
		t.Errorf("demand histogram min = %v, want 1", v)
	}
}

// TestDemandReplaysWideBuckets hands over callers that found more than
// 16, where a bucket holds several values: the count, sum and peak stay
// exact.
func TestDemandReplaysWideBuckets(t *testing.T) {
	e := newEventPool(t)
	const callers = 30 // find 1..30
	for range callers {
		e.ask()
	}
	e.got(e.conn(e.p))
	e.step("thirty callers handed over", callers, callers)
	h := demandHist(t, e.reader)
	if h.Count != callers || h.Sum != callers*(callers+1)/2 {
		t.Errorf("demand histogram: %d callers summing %v, want %d summing %d", h.Count, h.Sum, callers, callers*(callers+1)/2)
	}
	if v, _ := h.Max.Value(); v != callers {
		t.Errorf("demand histogram max = %v, want %d", v, callers)
	}
	want := []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4, 6} // 17-20, 21-24, 25-32
	for i, n := range want {
		if h.BucketCounts[i] != n {
			t.Errorf("bucket %d (<= %v) holds %d, want %d", i, demandBounds[i], h.BucketCounts[i], n)
		}
	}
}

// TestDemandReplayIsBounded: past maxReplay callers under one name, the
// count and the peak take every caller, the histogram the first ones.
func TestDemandReplayIsBounded(t *testing.T) {
	e := newEventPool(t)
	const callers = maxReplay + 5
	for range callers {
		e.ask()
	}
	e.got(e.conn(e.p))
	e.step("every caller handed over", callers, callers)
	h := demandHist(t, e.reader)
	if v, _ := h.Max.Value(); h.Count != maxReplay || h.Sum != maxReplay*(maxReplay+1)/2 || v != maxReplay {
		t.Errorf("demand histogram: %d callers summing %v (max %v), want the first %d", h.Count, h.Sum, v, maxReplay)
	}
}

// TestDemandHandsOverToEveryWrapper: a client instrumented twice (two
// wrappers on each connection) hands the callers to both pools.
func TestDemandHandsOverToEveryWrapper(t *testing.T) {
	e := newEventPool(t)
	inner, _ := testPool(t)
	c := e.conn(e.p, inner)
	e.ask()
	e.ask()
	e.got(c)
	e.step("two callers handed over", 2, 2)
	stepOf(t, inner, "two callers handed over (inner)", 2, 2)
	e.giveUp()
	e.unused(c)
	e.step("idle", 0, 2)
	stepOf(t, inner, "idle (inner)", 0, 2)
}

// TestDemandStaleEntryForwards: a caller that read the name's entry before
// the name was learnt, and uses it after, is counted in the pool.
func TestDemandStaleEntryForwards(t *testing.T) {
	e := newEventPool(t)
	e.ask()
	stale := byName(e.name)
	if stale == nil || stale.waiting == nil {
		t.Fatalf("entry of an unknown name = %+v, want one counting its callers", stale)
	}
	e.got(e.conn(e.p))
	arriveUnnamed(context.Background(), e.name, stale)
	e.step("a caller through the stale entry", 2, 2)
	leaveUnnamed(e.name, stale)
	e.step("it gives up through the stale entry", 1, 2)
}

// TestDemandRacesWithLearning has callers arrive, give up and take
// connections while the name is learnt: once every caller that took a
// connection holds it, the count is exactly theirs.
func TestDemandRacesWithLearning(t *testing.T) {
	for round := range 20 {
		e := newEventPool(t)
		const early, late = 8, 8
		conns := make([]*fakeConnInfo, early+late)
		for i := range conns {
			conns[i] = e.conn(e.p)
		}
		for range early {
			e.ask()
		}
		var wg sync.WaitGroup
		for i := range early + late {
			wg.Go(func() {
				if i >= early {
					e.ask()
				}
				if i%2 == 0 {
					e.got(conns[i]) // the first of these teaches the name
				} else {
					e.giveUp()
				}
			})
		}
		wg.Wait()
		if now := e.p.demand.now.Load(); now != (early+late)/2 {
			t.Fatalf("round %d: demand %d with %d callers holding a connection", round, now, (early+late)/2)
		}
		for i := 0; i < len(conns); i += 2 {
			e.unused(conns[i])
		}
		if now := e.p.demand.now.Load(); now != 0 {
			t.Fatalf("round %d: demand %d once every caller left", round, now)
		}
	}
}

// TestUnnamedTableIsBounded: names that are never learnt (clients
// poolscope does not observe) fill the table up to maxUnnamed; the idle
// ones are dropped to make room, those with callers inside are kept.
func TestUnnamedTableIsBounded(t *testing.T) {
	forgetUnnamed()
	t.Cleanup(forgetUnnamed)
	busy := newEventPool(t)
	busy.ask() // stays inside
	for i := range 3 * maxUnnamed {
		e := &eventPool{t: t, name: fmt.Sprintf("10.0.0.1:6379_unobserved%d", i)}
		e.ask()
		e.got(e.conn()) // a connection poolscope did not dial
	}
	poolsNamed.mu.Lock()
	n := poolsNamed.unnamed
	poolsNamed.mu.Unlock()
	if n > maxUnnamed {
		t.Errorf("%d unnamed entries, want at most %d", n, maxUnnamed)
	}
	if e := byName(busy.name); e == nil || e.waiting == nil || e.waiting.state.Load()&unnamedCallersMask != 1 {
		t.Fatalf("the entry with a caller inside was dropped: %+v", e)
	}
	busy.got(busy.conn(busy.p))
	busy.step("the kept caller handed over", 1, 1)
}

// TestUnobservedNameIsIgnored: a name with maxUnlearnt callers and none
// learnt (a client poolscope does not observe) is no longer followed: its
// entry holds nothing, its callers cost a lookup; should one of
// poolscope's pools learn it after all, it counts from then on.
func TestUnobservedNameIsIgnored(t *testing.T) {
	forgetUnnamed()
	t.Cleanup(forgetUnnamed)
	e := newEventPool(t)
	for range maxUnlearnt {
		e.ask()
		e.giveUp()
	}
	got := byName(e.name)
	if got == nil || !got.ignored || got.waiting != nil || got.pools != nil {
		t.Fatalf("entry after %d callers = %+v, want an ignored one", maxUnlearnt, got)
	}
	e.ask() // costs a lookup, counts nowhere
	e.giveUp()
	e.ask()
	e.got(e.conn(e.p)) // learnt after all
	e.step("learnt after being ignored: the teaching caller is missed", 0, 0)
	e.ask()
	e.step("a caller after", 1, 1)
	poolsNamed.mu.Lock()
	n := poolsNamed.unnamed
	poolsNamed.mu.Unlock()
	if n != 0 {
		t.Errorf("%d unnamed entries once the name is learnt, want 0", n)
	}
}
