package advise

import (
	"math"
	"strings"
	"testing"
	"time"
)

func steady(n int, iv Interval) []Interval {
	out := make([]Interval, n)
	for i := range out {
		out[i] = iv
	}
	return out
}

func iv(inUse, waiting, hold float64) Interval {
	return Interval{InUse: inUse, Waiting: waiting, Hold: hold, CommandLatency: math.NaN()}
}

// pool is a well-formed observation that each case changes.
func pool(max int, intervals []Interval) Pool {
	return Pool{
		Service: "checkout", Name: "master", Server: "10.0.0.5:6379", Processes: 1, Max: max,
		Step: time.Minute, Intervals: intervals, PeakDemand: math.NaN(), OpenMean: math.NaN(),
		WaitP99: math.NaN(), Timeouts: 0, MemoryPerConnection: 20 << 10,
	}
}

func with(p Pool, f func(*Pool)) Pool { f(&p); return p }

func TestAdvisePool(t *testing.T) {
	// The demo's pooled master: 40 callers without think time share 10
	// connections; 10 in use and 30 waiting in every interval. The peak says
	// 40 callers, none of them ever thinking: the offered load is 40, the
	// floor 40 x 1.1 = 44, capped at the 40 callers: a closed set never holds more.
	undersized := with(pool(10, steady(20, iv(10, 30, 0.0002))), func(p *Pool) {
		p.Processes, p.PeakDemand, p.OpenMean, p.WaitP99 = 3, 40, 10, 0.05
	})
	// 50 connections for half a connection of load from at most 3 callers:
	// β = 0.5/2.5 = 0.2, and M/M/1//3 with a 0.1 ms hold waits about 0.4 ms
	// at p99 (M/M/1, endless callers, would say 0.78 ms): size 1. 12
	// connections open on average, so 11 per process go.
	oversized := with(pool(50, steady(20, iv(0.5, 0, 0.0001))), func(p *Pool) {
		p.Processes, p.PeakDemand, p.OpenMean = 2, 3, 12
	})
	// 2 in use of at most 6 callers (β = 2/4 = 0.5), hold 1 ms: M/M/c//6
	// meets 1 ms at 4 (M/M/c, endless callers, at 5: 3.8 ms at 3, 1.43 ms
	// at 4, 0.60 ms at 5); 5 is within the keep margin, and at 5 fewer than
	// 1% of the callers wait at all.
	rightSized := with(pool(5, steady(20, iv(2, 0, 0.001))), func(p *Pool) { p.PeakDemand = 6 })
	// Concurrency rises from 2 to 8 in use while the hold time rises from 1
	// to 4 ms: throughput stayed at 2000/s.
	var saturated []Interval
	for i := 0; i < 10; i++ {
		saturated = append(saturated, iv(2, 0, 0.001), iv(8, 4, 0.004))
	}
	// The same concurrency with a constant hold time: throughput follows.
	var rising []Interval
	for i := 0; i < 10; i++ {
		rising = append(rising, iv(2, 0, 0.001), iv(8, 4, 0.001))
	}
	// Constant hold time but command latency triples with concurrency.
	var slowCommands []Interval
	for i := 0; i < 10; i++ {
		a, b := iv(2, 0, 0.001), iv(8, 4, 0.0012)
		a.CommandLatency, b.CommandLatency = 0.0002, 0.0006
		slowCommands = append(slowCommands, a, b)
	}
	bursty := with(pool(10, steady(20, iv(0.5, 0.01, 0.0001))), func(p *Pool) { p.WaitP99 = 0.02 })

	for _, tc := range []struct {
		name    string
		pool    Pool
		verdict Verdict
		rec     int
		check   func(t *testing.T, a PoolAdvice)
		reason  string // must appear in Reason
		missing string // must appear in Missing
	}{
		{name: "undersized closed population grows to the callers", pool: undersized, verdict: Grow, rec: 40,
			reason: "40 callers (the peak) each asking 1.00 of a connection", check: func(t *testing.T, a PoolAdvice) {
				expectFloat(t, "expected wait", a.ExpectedWaitP99, 0)
				expectFloat(t, "connections per process", a.DeltaConnectionsPerProcess, 30)
				expectFloat(t, "connections per service", a.DeltaConnectionsService, 90)
				expectFloat(t, "memory per process", a.DeltaMemoryPerProcess, 30*20480)
				expectFloat(t, "memory per service", a.DeltaMemoryService, 90*20480)
			}},
		{name: "oversized idle pool shrinks", pool: oversized, verdict: Shrink, rec: 1, reason: "with 1 connection(s)",
			check: func(t *testing.T, a PoolAdvice) {
				if tail := closedTail(1, 3, 0.2, 0.0001, a.ExpectedWaitP99); math.Abs(tail-0.01) > 1e-6 || a.ExpectedWaitP99 > 0.0005 {
					t.Errorf("expected wait %v: %v of the callers wait longer, want 1%% and about 0.4 ms", a.ExpectedWaitP99, tail)
				}
				expectFloat(t, "connections per process", a.DeltaConnectionsPerProcess, -11)
				expectFloat(t, "connections per service", a.DeltaConnectionsService, -22)
				expectFloat(t, "memory per service", a.DeltaMemoryService, -22*20480)
			}},
		{name: "right-sized pool is kept", pool: rightSized, verdict: Keep, rec: 5, check: func(t *testing.T, a PoolAdvice) {
			if a.ModelSize != 4 || a.ExpectedWaitP99 != 0 {
				t.Errorf("model %d wait %v, want 4 and 0 at the kept 5", a.ModelSize, a.ExpectedWaitP99)
			}
			expectFloat(t, "connections per process", a.DeltaConnectionsPerProcess, 0)
		}},
		{name: "within the keep margin", pool: pool(7, rightSized.Intervals), verdict: Keep, rec: 7},
		{name: "above the keep margin", pool: pool(9, rightSized.Intervals), verdict: Shrink, rec: 5},
		{name: "the async minimum follows a shrink", pool: with(oversized, func(p *Pool) { p.Min = 5 }), verdict: Shrink, rec: 1,
			check: func(t *testing.T, a PoolAdvice) {
				if a.RecommendedMin != 1 {
					t.Errorf("min %d, want 1", a.RecommendedMin)
				}
			}},
		{name: "hold time rising with concurrency refuses growth", pool: pool(10, saturated), verdict: ServerBound, rec: 10,
			reason: "the hold time rose from 1ms to 4ms as connections in use rose from 2.0 to 8.0"},
		{name: "command latency rising with concurrency refuses growth", pool: pool(10, slowCommands), verdict: ServerBound, rec: 10,
			reason: "command latency rose from 200µs to 600µs"},
		{name: "load rising at a constant hold time grows", pool: pool(10, rising), verdict: Grow},
		{name: "bursts without a sampled peak", pool: bursty, verdict: NotEnoughData, rec: 10,
			reason: "bursts shorter than an interval", missing: "high-water mark"},
		{name: "bursts with a sampled peak grow to it", pool: with(bursty, func(p *Pool) { p.PeakDemand = 30 }), verdict: Grow, rec: 33},
		{name: "window too short", pool: pool(10, steady(5, iv(1, 0, 0.001))), verdict: NotEnoughData, rec: 10,
			reason: "window too short: 5 interval(s) of 1m0s with data, need 10"},
		{name: "no data at all", pool: pool(10, nil), verdict: NotEnoughData, reason: "window too short: 0 interval(s)"},
		{name: "no use times in any interval", pool: pool(10, steady(20, iv(math.NaN(), math.NaN(), math.NaN()))), verdict: NotEnoughData,
			reason: "no use times in the window", missing: "db.client.connection.use_time"},
		{name: "no load", pool: pool(10, steady(20, iv(0, 0, math.NaN()))), verdict: NotEnoughData, reason: "no load: no connection was in use"},
		{name: "full without wait data", pool: pool(10, steady(20, iv(10, math.NaN(), 0.001))), verdict: NotEnoughData,
			missing: "db.client.connection.wait_time"},
		{name: "not full without wait data still advises", pool: pool(10, steady(20, iv(2, math.NaN(), 0.001))), verdict: Shrink, rec: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := adviseOne(t, tc.pool)
			if a.Verdict != tc.verdict || (tc.rec != 0 && a.Recommended != tc.rec) {
				t.Fatalf("verdict %s size %d, want %s %d; reason: %s; missing: %v", a.Verdict, a.Recommended, tc.verdict, tc.rec, a.Reason, a.Missing)
			}
			if !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", a.Reason, tc.reason)
			}
			if tc.missing != "" && !strings.Contains(strings.Join(a.Missing, "; "), tc.missing) {
				t.Errorf("missing %q lacks %q", a.Missing, tc.missing)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

// Hostile observations give clear verdicts: never a panic, never a size
// made of NaN or infinity.
func TestAdviseHostileInputs(t *testing.T) {
	good := steady(20, iv(2, 0, 0.001))
	nan, inf := math.NaN(), math.Inf(1)
	closedPool := with(pool(5, good), func(p *Pool) { p.PeakDemand = 8 })
	for _, tc := range []struct {
		name    string
		pool    Pool
		verdict Verdict // "" when any verdict will do, as long as the figures are sane
		want    string  // in Reason or Missing
	}{
		{"max zero", pool(0, good), NotEnoughData, "configured max (db.client.connection.max) is 0"},
		{"max negative", pool(-3, good), NotEnoughData, "is -3, not a pool size"},
		{"max above the cap", pool(20000, good), NotEnoughData, "is 20000"},
		{"no processes", with(pool(10, good), func(p *Pool) { p.Processes = 0 }), NotEnoughData, "process count is 0"},
		{"negative processes", with(pool(10, good), func(p *Pool) { p.Processes = -1 }), NotEnoughData, "process count is -1"},
		{"absurd processes", with(pool(10, good), func(p *Pool) { p.Processes = math.MaxInt }), NotEnoughData, "process count"},
		{"min above max", with(pool(10, good), func(p *Pool) { p.Min = 11 }), NotEnoughData, "configured min"},
		{"negative extra", with(pool(10, good), func(p *Pool) { p.Extra = -1 }), NotEnoughData, "outside the cap"},
		{"zero step", with(pool(10, good), func(p *Pool) { p.Step = 0 }), NotEnoughData, "interval width is 0s"},
		{"NaN intervals", pool(10, steady(20, iv(nan, nan, nan))), NotEnoughData, "no use times"},
		{"infinite intervals", pool(10, steady(20, iv(inf, inf, inf))), NotEnoughData, "no use times"},
		{"negative intervals", pool(10, steady(20, iv(-1, -1, -1))), NotEnoughData, "no use times"},
		{"some bad intervals", pool(10, append(steady(5, iv(nan, 0, 0)), steady(5, iv(1, 0, 0.001))...)), NotEnoughData, "window too short: 5"},
		{"negative hold", pool(10, steady(20, iv(2, 0, -0.001))), NotEnoughData, "no interval has a usable hold time"},
		{"infinite hold", pool(10, steady(20, iv(2, 0, inf))), NotEnoughData, "no interval has a usable hold time"},
		{"zero hold", pool(10, steady(20, iv(2, 0, 0))), NotEnoughData, "no interval has a usable hold time"},
		{"denormal hold", pool(10, steady(20, iv(2, 0, 5e-324))), NotEnoughData, "no interval has a usable hold time"},
		{"NaN hold", pool(10, steady(20, iv(2, 0, nan))), NotEnoughData, "use_time count"},
		{"huge load", pool(10, steady(20, iv(1e300, 0, 0.001))), Grow, "cannot meet"},
		{"negative waiting ignored", pool(5, steady(20, iv(2, -5, 0.001))), Keep, ""},
		{"NaN peak", with(pool(5, good), func(p *Pool) { p.PeakDemand = nan }), Keep, ""},
		{"infinite peak", with(pool(5, good), func(p *Pool) { p.PeakDemand = inf }), Keep, ""},
		{"negative peak", with(pool(5, good), func(p *Pool) { p.PeakDemand = -5 }), Keep, ""},
		{"infinite observed wait", with(pool(5, good), func(p *Pool) { p.WaitP99 = inf }), Keep, ""},
		{"negative memory", with(pool(50, good), func(p *Pool) { p.MemoryPerConnection = -1 }), Shrink, ""},
		{"infinite open", with(pool(50, good), func(p *Pool) { p.OpenMean = inf }), Shrink, ""},
		// Hold-time buckets that cannot be read: the wait p99 decides, and says why.
		{"NaN hold buckets", with(closedPool, func(p *Pool) { p.Holds = Histogram{Bounds: []float64{nan, inf}, Counts: []float64{1, 2}} }), "", "no hold times recorded"},
		{"infinite hold counts", with(closedPool, func(p *Pool) { p.Holds = Histogram{Bounds: []float64{0.001, inf}, Counts: []float64{inf, inf}} }), "", "no hold times recorded"},
		{"decreasing hold counts", with(closedPool, func(p *Pool) { p.Holds = Histogram{Bounds: []float64{0.001, inf}, Counts: []float64{5, 3}} }), "", "no hold times recorded"},
		{"negative hold bounds", with(closedPool, func(p *Pool) { p.Holds = Histogram{Bounds: []float64{-1, inf}, Counts: []float64{5, 5}} }), "", "no hold times recorded"},
		{"mismatched hold buckets", with(closedPool, func(p *Pool) { p.Holds = Histogram{Bounds: []float64{0.001}, Counts: []float64{5, 5}} }), "", "no hold times recorded"},
		{"huge hold bounds", with(closedPool, func(p *Pool) { p.Holds = Histogram{Bounds: []float64{1e300, inf}, Counts: []float64{5, 5}} }), "", ""},
		{"only +Inf holds", with(closedPool, func(p *Pool) { p.Holds = Histogram{Bounds: []float64{inf}, Counts: []float64{5}} }), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := adviseOne(t, tc.pool)
			if tc.verdict != "" && a.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s; reason: %s; missing %v", a.Verdict, tc.verdict, a.Reason, a.Missing)
			}
			if got := a.Reason + " " + strings.Join(a.Missing, "; "); !strings.Contains(got, tc.want) {
				t.Errorf("reason and missing %q lack %q", got, tc.want)
			}
			if a.Verdict != NotEnoughData && (a.Recommended < 1 || a.Recommended > MaxPoolSize || a.RecommendedMin > a.Recommended) {
				t.Errorf("size %d (min %d) is not a pool size", a.Recommended, a.RecommendedMin)
			}
			for name, v := range map[string]float64{"connections per process": a.DeltaConnectionsPerProcess, "connections per service": a.DeltaConnectionsService} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s = %v", name, v)
				}
			}
			if a.Verdict == NotEnoughData && (a.Recommended != a.Current || a.DeltaConnectionsService != 0) {
				t.Errorf("not enough data, but size %d and change %v", a.Recommended, a.DeltaConnectionsService)
			}
		})
	}
}

func TestAdviseRejectsBadOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		opt  Option
		want string
	}{
		"zero target":       {WithWaitTarget(0), "advise: wait target 0s: must be positive"},
		"negative target":   {WithWaitTarget(-time.Second), "must be positive"},
		"quantile one":      {WithLoadQuantile(1), "load quantile 1"},
		"quantile NaN":      {WithLoadQuantile(math.NaN()), "load quantile NaN"},
		"headroom negative": {WithHeadroom(-0.1), "headroom -0.1"},
		"headroom infinite": {WithHeadroom(math.Inf(1)), "headroom +Inf"},
		"one interval":      {WithMinIntervals(1), "minimum intervals 1"},
		"budget zero":       {WithBudgetFraction(0), "budget fraction 0"},
		"budget above one":  {WithBudgetFraction(1.5), "budget fraction 1.5"},
		"budget NaN":        {WithBudgetFraction(math.NaN()), "budget fraction NaN"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Advise(nil, nil, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func adviseOne(t *testing.T, p Pool) PoolAdvice {
	t.Helper()
	r, err := Advise([]Pool{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Pools) != 1 {
		t.Fatalf("%d pools advised, want 1", len(r.Pools))
	}
	return r.Pools[0]
}

func expectFloat(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
