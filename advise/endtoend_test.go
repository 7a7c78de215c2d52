package advise

import (
	"math"
	"strings"
	"testing"
)

// holdHist is a use_time histogram on poolscope's 1-2-5 buckets from 1 ms
// to 10 ms, with counts per bucket (not cumulative) for (0, 1ms], (1, 2],
// (2, 5], (5, 10] and above.
func holdHist(per ...float64) Histogram {
	h := Histogram{Bounds: []float64{0.001, 0.002, 0.005, 0.01, math.Inf(1)}}
	total := 0.0
	for i := range h.Bounds {
		if i < len(per) {
			total += per[i]
		}
		h.Counts = append(h.Counts, total)
	}
	return h
}

func TestHoldTimesShapedToTheMean(t *testing.T) {
	// Every hold in the 2-5 ms bucket with a mean in its middle: uniform
	// (κ = 0), variance 3²/12 ms², Cs² = 0.75/3.5² = 0.061, and the p99 of
	// the holds near the bucket's top.
	h, ok := newHoldTimes(holdHist(0, 0, 1000), 0.0035)
	if !ok {
		t.Fatal("not usable")
	}
	if math.Abs(h.mean-0.0035) > 1e-6 || math.Abs(h.cs2-0.75/(3.5*3.5)) > 0.002 {
		t.Errorf("mean %v, Cs² %v; want 3.5ms and 0.061", h.mean, h.cs2)
	}
	if e := newEndToEnd(h, 0.99, 0.001); math.Abs(e.bare-0.00497) > 0.00005 || e.limit != e.bare+0.001 {
		t.Errorf("p99 with no wait %v (limit %v), want 4.97ms (+1ms)", e.bare, e.limit)
	}
	// The benchmark's steady shape: a mean of 2.74 ms in the same bucket
	// puts the mass near 2 ms with a tail: the mean is kept exactly.
	h, _ = newHoldTimes(holdHist(0, 24, 7315, 30), 0.00274)
	if math.Abs(h.mean-0.00274) > 1e-5 || h.cs2 > 0.2 || h.waitScale() > 0.6 {
		t.Errorf("steady: mean %v, Cs² %v, wait scale %v; want 2.74ms, nearly constant holds", h.mean, h.cs2, h.waitScale())
	}
	for name, hist := range map[string]Histogram{"empty": {}, "decreasing": {Bounds: []float64{1, 2}, Counts: []float64{5, 3}}} {
		if _, ok := newHoldTimes(hist, 0.001); ok {
			t.Errorf("%s histogram: usable", name)
		}
	}
	if _, ok := newHoldTimes(holdHist(10), math.NaN()); ok {
		t.Error("unknown mean: usable")
	}
}

// With no waits the end-to-end p99 is the holds' own; waits that a tenth
// of the callers see, shorter than a hold, move it far less than their own
// p99.
func TestEndToEndQuantile(t *testing.T) {
	h, _ := newHoldTimes(holdHist(0, 24, 7315, 30), 0.00274)
	e := newEndToEnd(h, 0.99, 0.001)
	n, beta := 16, 1.15
	sizes := map[int]float64{}
	for _, c := range []int{6, 8, 10, 16} {
		sizes[c] = e.quantile(newClosedQueue(c, n, beta, 0.00274*h.waitScale()))
	}
	if math.Abs(sizes[16]-e.bare) > 1e-9 {
		t.Errorf("a connection per caller: %v, want the holds' p99 %v", sizes[16], e.bare)
	}
	if !(sizes[6] > sizes[8] && sizes[8] > sizes[10] && sizes[10] >= sizes[16]) {
		t.Errorf("end-to-end p99 by size %v: want it falling as the pool grows", sizes)
	}
	cl := population{callers: n, beta: beta, waitHold: 0.00274 * h.waitScale()}
	byEndToEnd := e.size(cl, cl.waitHold)
	byWait := closedSize(n, beta, cl.waitHold, 0.99, 0.001)
	if byEndToEnd >= byWait {
		t.Errorf("end-to-end criterion %d, wait criterion %d: want fewer connections for the end-to-end p99", byEndToEnd, byWait)
	}
	if got := e.quantile(newClosedQueue(byEndToEnd, n, beta, cl.waitHold)); got > e.limit {
		t.Errorf("size %d: p99 %v above the limit %v", byEndToEnd, got, e.limit)
	}
	if byEndToEnd > 1 && e.quantile(newClosedQueue(byEndToEnd-1, n, beta, cl.waitHold)) <= e.limit {
		t.Errorf("size %d is not the smallest that meets the limit", byEndToEnd)
	}
}

// The benchmark's steady shape (16 callers, each asking about half a
// connection, holds of 2.5 to 2.7 ms) gets one size from a pool too small
// and one too large, near its offered load (its oracle was 7 to 8 where
// the wait criterion asked 11); without the hold times the wait p99 alone
// decides, and the reason says so.
func TestAdviseEndToEndCriterion(t *testing.T) {
	holds := holdHist(0, 24, 7315, 30)
	small := with(pool(4, steady(12, iv(4, 8.1, 0.0025))), func(p *Pool) { p.PeakDemand, p.WaitP99, p.Holds = 16, 0.012, holds })
	large := with(pool(32, steady(12, iv(8.5, 0, 0.0027))), func(p *Pool) { p.PeakDemand, p.Holds = 16, holds })
	as, al := adviseOne(t, small), adviseOne(t, large)
	for _, a := range []PoolAdvice{as, al} {
		if a.Recommended < 8 || a.Recommended > 10 || !strings.Contains(a.Reason, "sized for the end-to-end p99") {
			t.Errorf("from %d: %s %d (%s); want 8 to 10, for the end-to-end p99", a.Current, a.Verdict, a.Recommended, a.Reason)
		}
	}
	wait := adviseOne(t, with(large, func(p *Pool) { p.Holds = Histogram{} }))
	if wait.Recommended <= al.Recommended || !strings.Contains(wait.Reason, "sized for the wait p99 (no hold times recorded") {
		t.Errorf("without hold times: %s %d (%s); want more than %d, for the wait p99", wait.Verdict, wait.Recommended, wait.Reason, al.Recommended)
	}
}

// Callers in step are still told apart from random ones when the
// end-to-end criterion lets a pool run often full: the demand they found
// is compared with the model at the wait criterion's size.
func TestAdviseEndToEndKeepsBursts(t *testing.T) {
	inStep := make([]float64, 17)
	for d := 1; d <= 15; d++ {
		inStep[d] = 47
	}
	inStep[16] = 2270
	p := with(pool(32, steady(12, iv(4.4, 0, 0.0035))), func(p *Pool) {
		p.PeakDemand, p.OpenMean, p.Demand, p.Holds = 16, 16, demandHist(inStep), holdHist(0, 5, 2827, 128)
	})
	if a := adviseOne(t, p); a.Recommended != 16 || !strings.Contains(a.Reason, "in step") {
		t.Errorf("bursts: %s %d (%s), want the 16 callers of the burst", a.Verdict, a.Recommended, a.Reason)
	}
}
