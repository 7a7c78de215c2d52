package advise

import (
	"math"
	"testing"
	"time"
)

func TestBetweenAndWithSamples(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	sample := func(sec, use, count, wait, cpu float64, waits, demand Histogram) Sample {
		return Sample{At: t0.Add(time.Duration(sec * float64(time.Second))), UseSum: use, UseCount: count,
			WaitSum: wait, Wait: waits, Demand: demand, ServerCPU: cpu}
	}
	bounds := []float64{0.001, 0.01}
	samples := []Sample{
		sample(0, 10, 1000, 1, 5, hist(bounds, 100, 100, 100), hist([]float64{1, 2}, 50, 100, 100)),
		// 2 s: 4 s of use over 400 acquisitions, 1 s of waiting, 1.5 s of server CPU.
		sample(2, 14, 1400, 2, 6.5, hist(bounds, 150, 200, 200), hist([]float64{1, 2}, 60, 300, 300)),
		// A restart: every counter starts again.
		sample(3, 1, 100, 0, 0.5, hist(bounds, 10, 10, 10), hist([]float64{1, 2}, 1, 10, 10)),
	}
	iv := Between(samples[0], samples[1])
	expectFloat(t, "in use", iv.InUse, 2)
	expectFloat(t, "waiting", iv.Waiting, 0.5)
	expectFloat(t, "hold", iv.Hold, 0.01)
	expectFloat(t, "server busy", iv.ServerBusy, 0.75)
	if !math.IsNaN(iv.CommandLatency) {
		t.Errorf("command latency %v, want NaN (not in a sample)", iv.CommandLatency)
	}
	reset := Between(samples[1], samples[2])
	if !math.IsNaN(reset.InUse) || !math.IsNaN(reset.Waiting) || !math.IsNaN(reset.Hold) || !math.IsNaN(reset.ServerBusy) {
		t.Errorf("after a restart: %+v, want NaN figures", reset)
	}

	p := pool(10, nil).WithSamples(samples[:2])
	if len(p.Intervals) != 1 {
		t.Fatalf("%d intervals, want 1", len(p.Intervals))
	}
	// 100 waits since the first sample, 50 of them within 1 ms: the p99 is
	// in (1 ms, 10 ms], at 1 ms + 9 ms x 49/50.
	expectFloat(t, "wait p99", p.WaitP99, 0.001+0.009*49.0/50)
	expectFloat(t, "demand acquisitions", p.Demand.Total(), 200)
	if q := pool(10, nil).WithSamples(samples[:1]); len(q.Intervals) != 0 || !math.IsNaN(q.WaitP99) || q.Demand.Total() != 0 {
		t.Errorf("one sample: %d intervals, wait p99 %v, demand %v; want none", len(q.Intervals), q.WaitP99, q.Demand.Total())
	}
}
