package advise

import (
	"math"
	"strings"
	"testing"
)

// demandHist is a histogram of the demand callers found, bounds 1..16
// as poolscope records them, from counts per demand (index 0 unused).
func demandHist(perDemand []float64) Histogram {
	var h Histogram
	total := 0.0
	for d := 1; d <= 16; d++ {
		if d < len(perDemand) {
			total += perDemand[d]
		}
		h.Bounds, h.Counts = append(h.Bounds, float64(d)), append(h.Counts, total)
	}
	h.Bounds, h.Counts = append(h.Bounds, math.Inf(1)), append(h.Counts, total)
	return h
}

// binomialDemand is what 16 independent callers, each holding a connection
// a share p of the time, show an acquisition when nobody waits: itself and
// Binomial(15, p) others.
func binomialDemand(p float64) Histogram {
	per := make([]float64, 17)
	for k := 0; k <= 15; k++ {
		lg15, _ := math.Lgamma(16)
		lgK, _ := math.Lgamma(float64(k + 1))
		lgR, _ := math.Lgamma(float64(16 - k))
		per[k+1] = 1e6 * math.Exp(lg15-lgK-lgR+float64(k)*math.Log(p)+float64(15-k)*math.Log(1-p))
	}
	return demandHist(per)
}

// The benchmark's bursts from a pool of 32: 16 callers that wake together
// hold 3.2 connections on average (β = 3.2/12.8, each asking 0.2 of a
// connection), which the closed model sizes at 7; but most acquisitions
// saw the whole burst. Random callers with the same load show the
// binomial demand the model expects and keep its size.
func TestAdviseSeenDemand(t *testing.T) {
	base := with(pool(32, steady(20, iv(3.2, 0, 0.003))), func(p *Pool) { p.PeakDemand, p.OpenMean = 16, 16 })
	inStep := make([]float64, 17)
	for d := 1; d <= 15; d++ {
		inStep[d] = 10
	}
	inStep[16] = 850

	noHistogram := adviseOne(t, base)
	random := adviseOne(t, with(base, func(p *Pool) { p.Demand = binomialDemand(0.2) }))
	bursts := adviseOne(t, with(base, func(p *Pool) { p.Demand = demandHist(inStep) }))
	if noHistogram.Recommended != random.Recommended || random.Recommended > 8 {
		t.Errorf("random callers: advised %d (%s), without the histogram %d; want the model's size, at most 8",
			random.Recommended, random.Reason, noHistogram.Recommended)
	}
	if !strings.Contains(noHistogram.Reason, "no per-caller demand recorded") {
		t.Errorf("without the histogram the reason must say so: %s", noHistogram.Reason)
	}
	if !strings.Contains(random.Reason, "not in step") {
		t.Errorf("random callers: reason %q", random.Reason)
	}
	if bursts.Verdict != Shrink || bursts.Recommended != 16 || !strings.Contains(bursts.Reason, "in step") {
		t.Errorf("bursts: %s %d (%s), want shrink to the 16 callers of the burst", bursts.Verdict, bursts.Recommended, bursts.Reason)
	}

	// From a pool of 8 that the burst fills, the demand callers found
	// is inflated by the waiting and is not used; callers wait although
	// the load fits, and the peak sizes the burst.
	small := adviseOne(t, with(base, func(p *Pool) {
		p.Max, p.Demand, p.WaitP99, p.Intervals = 8, demandHist(inStep), 0.005, steady(20, iv(3.2, 0.8, 0.003))
	}))
	if small.Recommended < 16 || !strings.Contains(small.Reason, "burst of 16") {
		t.Errorf("bursts from 8: %s %d (%s), want at least 16 from the peak", small.Verdict, small.Recommended, small.Reason)
	}
}

// A server whose main thread is busy: 8 in use with an 8 ms hold (the
// queue inside the server) asks for no more than 3 connections, from
// either side; an idle server leaves hold times that rise with concurrency
// (a stalled machine) to the model.
func TestAdviseSaturatedServer(t *testing.T) {
	busy := func(max int, busyShare float64, ivs []Interval) Pool {
		for i := range ivs {
			ivs[i].ServerBusy = busyShare
		}
		return with(pool(max, ivs), func(p *Pool) { p.PeakDemand = 8 })
	}
	for _, tc := range []struct {
		name    string
		pool    Pool
		verdict Verdict
		rec     int
	}{
		{"too large", busy(16, 0.97, steady(20, iv(7.5, 0, 0.008))), Shrink, 3},
		{"too small", with(busy(1, 0.95, steady(20, iv(1, 6.5, 0.001))), func(p *Pool) { p.WaitP99 = 0.01 }), Grow, 3},
		{"within the margin", busy(5, 0.9, steady(20, iv(5, 0, 0.005))), ServerBound, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := adviseOne(t, tc.pool)
			if a.Verdict != tc.verdict || a.Recommended != tc.rec || !strings.Contains(a.Reason, "main thread was busy") {
				t.Errorf("%s %d (%s), want %s %d", a.Verdict, a.Recommended, a.Reason, tc.verdict, tc.rec)
			}
		})
	}
	var stalls []Interval
	for range 10 {
		stalls = append(stalls, iv(2, 0, 0.001), iv(8, 4, 0.004))
	}
	a := adviseOne(t, with(busy(8, 0.05, stalls), func(p *Pool) { p.PeakDemand = 12 }))
	if a.Verdict == ServerBound || strings.Contains(a.Reason, "hold time rose") {
		t.Errorf("idle server, rising holds: %s %d (%s), want the model's verdict", a.Verdict, a.Recommended, a.Reason)
	}
}
