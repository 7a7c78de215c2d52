package advise

import (
	"math"
	"time"
)

// Sample is one process's pool at one collection (a scrape): the
// cumulative figures the intervals are derived from. A figure that is not
// recorded is NaN (sums) or an empty Histogram.
type Sample struct {
	At time.Time
	// UseSum and UseCount are db.client.connection.use_time's sum
	// (seconds) and count (acquisitions), Use its buckets.
	UseSum, UseCount float64
	Use              Histogram
	// WaitSum and Wait are db.client.connection.wait_time's sum (seconds)
	// and buckets.
	WaitSum float64
	Wait    Histogram
	// Demand is redis.client.connection.demand's buckets: the demand each
	// caller found.
	Demand Histogram
	// ServerCPU is the seconds of CPU the server's main thread has used
	// (INFO cpu used_cpu_sys_main_thread + used_cpu_user_main_thread).
	ServerCPU float64
}

// Between is the interval from a to b (consecutive samples of one
// process): Little's law on the histograms' sums, as `poolscope advise`'s
// range queries compute it: in use = rate(use_time sum), waiting =
// rate(wait_time sum), hold = use_time sum / count, and the server's busy
// share = rate(main-thread CPU). A figure whose counter went back (a
// restart) or that is not recorded is NaN.
func Between(a, b Sample) Interval {
	dt := b.At.Sub(a.At).Seconds()
	rate := func(x, y float64) float64 {
		if !(dt > 0) || !(y >= x) || math.IsInf(y-x, 0) {
			return math.NaN()
		}
		return (y - x) / dt
	}
	iv := Interval{
		InUse: rate(a.UseSum, b.UseSum), Waiting: rate(a.WaitSum, b.WaitSum), Hold: math.NaN(),
		CommandLatency: math.NaN(), ServerBusy: rate(a.ServerCPU, b.ServerCPU),
	}
	if dc := b.UseCount - a.UseCount; dc > 0 && !math.IsNaN(iv.InUse) {
		iv.Hold = (b.UseSum - a.UseSum) / dc
	}
	return iv
}

// WithSamples is p with its Intervals (one between each two consecutive
// samples), WaitP99 and Demand (over the whole run of samples) taken from
// samples of one process, oldest first, and Holds (the hold times over
// the run, when the samples carry use_time's buckets): what the demo and the benchmark
// read from their own collections, the way `poolscope advise` reads them
// from Prometheus.
func (p Pool) WithSamples(samples []Sample) Pool {
	p.Intervals, p.WaitP99, p.Demand, p.Holds = nil, math.NaN(), Histogram{}, Histogram{}
	for i := 1; i < len(samples); i++ {
		p.Intervals = append(p.Intervals, Between(samples[i-1], samples[i]))
	}
	if n := len(samples); n > 1 {
		first, last := samples[0], samples[n-1]
		p.WaitP99 = last.Wait.Since(first.Wait).Quantile(0.99)
		p.Demand = last.Demand.Since(first.Demand)
		p.Holds = last.Use.Since(first.Use)
	}
	return p
}
