package advise

import (
	"math"
	"testing"
)

func TestClosedTail(t *testing.T) {
	// One other caller, β = 1, one connection: the arriving caller finds
	// it holding with probability 1/2 and then waits an exponential hold.
	for _, tt := range []float64{0, 0.001, 0.003} {
		want := 0.5 * math.Exp(-tt/0.001)
		if got := closedTail(1, 2, 1, 0.001, tt); math.Abs(got-want) > 1e-12 {
			t.Errorf("closedTail(1, 2, 1, 1ms, %v) = %v, want %v", tt, got, want)
		}
	}
	if got := closedTail(4, 4, 1, 0.001, 0); got != 0 {
		t.Errorf("a connection per caller: tail %v, want 0", got)
	}
	if got := closedTail(3, 4, math.Inf(1), 0.001, 0); got != 1 {
		t.Errorf("callers that never think: tail %v, want 1", got)
	}
}

// Many callers each asking little are the endless stream of M/M/c: the
// closed model's size comes to Erlang C's.
func TestClosedSizeApproachesErlangC(t *testing.T) {
	const a, hold, target = 2.0, 0.001, 0.001
	open, _, _ := sizeForWait(a, hold, 0.99, target, MaxPoolSize)
	n := 5000
	beta := a / (float64(n) - a)
	if got := closedSize(n, beta, hold, 0.99, target); got != open {
		t.Errorf("closedSize(%d callers, a = %v) = %d, want Erlang C's %d", n, a, got, open)
	}
}

// The same 16 callers (1 ms hold, 2 ms think: β = 0.5) seen through a pool
// of 3, where 7 of them wait, and through a pool of 20, where none does,
// get the same advice: the waiting callers are not counted as demand.
func TestClosedPopulationSameAdviceFromBothSides(t *testing.T) {
	small := with(pool(3, steady(20, iv(3, 7, 0.001))), func(p *Pool) { p.PeakDemand, p.WaitP99 = 16, 0.004 })
	large := with(pool(20, steady(20, iv(16.0/3, 0, 0.001))), func(p *Pool) { p.PeakDemand = 16 })
	as, al := adviseOne(t, small), adviseOne(t, large)
	if as.Verdict != Grow || al.Verdict != Shrink || as.Recommended != al.Recommended {
		t.Fatalf("from 3: %s %d (%s); from 20: %s %d (%s); want grow and shrink to one size",
			as.Verdict, as.Recommended, as.Reason, al.Verdict, al.Recommended, al.Reason)
	}
	if as.Recommended < 6 || as.Recommended > 9 {
		t.Errorf("advised %d for an offered load of 5.3 connections, want 6 to 9", as.Recommended)
	}
}

// Callers in a tight loop (the e2e closed loop's 8 callers on a pool of 2):
// in use plus waiting comes to 7.6 of 8 through rate() noise, not because
// they think. They are taken as callers that never pause, and the pool is
// never sized below them.
func TestClosedTightLoopNotUndersized(t *testing.T) {
	p := with(pool(2, steady(20, iv(2, 5.6, 0.0002))), func(p *Pool) { p.PeakDemand, p.WaitP99 = 8, 0.001 })
	a := adviseOne(t, p)
	if a.Verdict != Grow || a.Recommended != 8 {
		t.Errorf("8 callers in a tight loop on 2 connections: %s %d (%s), want grow to 8: every caller, no headroom past them", a.Verdict, a.Recommended, a.Reason)
	}
}

// The e2e closed loop's 8 callers on a machine that stalls: a busy
// interval counted 11.3 connections in use + waiting, more than the 8
// callers the recorded high-water mark saw at once. A mean over an
// interval cannot exceed the most at once, so with a recorded peak the
// callers are the peak's 8; with a sampled one (which can miss callers
// between scrapes) the larger figure stays.
func TestClosedCallersFromTheRecordedPeak(t *testing.T) {
	p := with(pool(2, steady(20, iv(2, 9.3, 0.00005))), func(p *Pool) { p.PeakDemand, p.WaitP99 = 8, 0.0008 })
	if a := adviseOne(t, with(p, func(p *Pool) { p.PeakRecorded = true })); a.Recommended != 8 {
		t.Errorf("recorded peak of 8: %s %d (%s), want 8", a.Verdict, a.Recommended, a.Reason)
	}
	if a := adviseOne(t, p); a.Recommended != 12 {
		t.Errorf("sampled peak of 8, busy interval 11.3: %s %d (%s), want 12", a.Verdict, a.Recommended, a.Reason)
	}
}

// Past x = c·t/hold of about 708, e^(-x) underflows: the direct Poisson
// sum said nobody waits in a pool of 800 for 9000 callers that offer 2700
// connections of load. The sums in logarithms agree with the direct ones
// where both work, and see the queue where the direct one cannot.
func TestClosedTailLargePools(t *testing.T) {
	q := newClosedQueue(300, 1000, 0.43, 0.001)
	for _, x := range []float64{50, 300, 650} {
		direct := q.tail(x * q.hold / float64(q.c))
		if logs := q.tailLog(x); math.Abs(direct-logs) > 1e-9 {
			t.Errorf("x = %v: direct %v, in logarithms %v", x, direct, logs)
		}
	}
	if got := closedTail(800, 9000, 0.43, 0.001, 0.001); got < 0.9 {
		t.Errorf("800 connections for an offered load of 2700: P(wait > 1ms) = %v, want nearly every caller", got)
	}
}
