package advise

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Advise judges every pool and the fleet budget of every server. It returns
// an error only for bad options; bad or missing observations give
// NotEnoughData verdicts naming what is missing, never a made-up size.
func Advise(pools []Pool, servers []Server, opts ...Option) (Report, error) {
	c, err := newConfig(opts)
	if err != nil {
		return Report{}, err
	}
	pools, r := c.withMemory(pools)
	for _, p := range pools {
		r.Pools = append(r.Pools, c.advisePool(p))
	}
	slices.SortFunc(r.Pools, func(a, b PoolAdvice) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Server, b.Server))
	})
	r.Servers = c.budgets(servers, r.Pools)
	for i := range r.Pools {
		if a := &r.Pools[i]; a.p99AtSize != nil && a.Verdict != NotEnoughData {
			a.ExpectedP99 = a.p99AtSize(a.Recommended)
		}
	}
	return r, nil
}

// demand is what the intervals say about a pool's load.
type demand struct {
	valid     int     // intervals with data
	waitKnown bool    // some interval has wait data
	high      float64 // load quantile of in use + waiting
	highInUse float64 // load quantile of in use alone
	hold      float64 // mean hold time over the window, seconds
	busy      bool    // some interval had connections in use
	acquired  bool    // some interval had usable acquisitions
	bound     bool    // the server (or what serves the connections) is saturated
	boundWhy  string
	// saturated: bound, measured from the server's busy share rather than
	// inferred from the hold time.
	saturated bool
	// serverBusy: the loaded intervals' median server busy share, NaN
	// when not recorded.
	serverBusy float64
}

func (c config) advisePool(p Pool) PoolAdvice {
	a := PoolAdvice{
		Service: p.Service, Pool: p.Name, Server: p.Server, Processes: p.Processes,
		Current: p.Max, CurrentMin: p.Min, Extra: p.Extra, Recommended: p.Max, RecommendedMin: p.Min,
		DemandHigh: math.NaN(), DemandPeak: p.PeakDemand, HoldMean: math.NaN(), WaitP99: p.WaitP99,
		Timeouts: p.Timeouts, ExpectedWaitP99: math.NaN(), ExpectedP99: math.NaN(), ServerBusy: math.NaN(),
		DeltaMemoryPerProcess: math.NaN(), DeltaMemoryService: math.NaN(),
	}
	if missing := checkConfig(p); len(missing) > 0 {
		return notEnough(a, "the pool's configuration is not usable", missing...)
	}
	d := c.measure(p)
	a.DemandHigh, a.HoldMean, a.ServerBusy = d.high, d.hold, d.serverBusy
	switch {
	case d.valid == 0 && len(p.Intervals) >= c.minIntervals:
		return notEnough(a, "no use times in the window: the pool was never used, or its use times are not recorded (another go-redis recorder replaced poolscope's?)",
			"db.client.connection.use_time")
	case d.valid < c.minIntervals:
		return notEnough(a, fmt.Sprintf("window too short: %d interval(s) of %s with data, need %d", d.valid, p.Step, c.minIntervals),
			"a longer window (or a shorter --step)")
	case !d.busy:
		return notEnough(a, "no load: no connection was in use in the window", "load on the pool")
	case !d.acquired:
		return notEnough(a, "connections were in use, but no interval has a usable hold time (use time over acquisitions)",
			"db.client.connection.use_time count")
	case !d.waitKnown && d.highInUse >= float64(p.Max)-0.5:
		return notEnough(a, "the pool was full and no wait times were recorded: the demand beyond its size is unknown",
			"db.client.connection.wait_time")
	}
	return c.size(a, p, d)
}

// checkConfig names every configuration figure that is not usable.
func checkConfig(p Pool) []string {
	var missing []string
	if p.Max < 1 || p.Max > MaxPoolSize {
		missing = append(missing, fmt.Sprintf("configured max (db.client.connection.max) is %d, not a pool size", p.Max))
	}
	if p.Processes < 1 || p.Processes > maxProcesses {
		missing = append(missing, fmt.Sprintf("process count is %d", p.Processes))
	}
	if p.Extra < 0 || p.Extra > MaxPoolSize {
		missing = append(missing, fmt.Sprintf("connections outside the cap is %d", p.Extra))
	}
	if p.Min < 0 || p.Min > p.Max {
		missing = append(missing, fmt.Sprintf("configured min (db.client.connection.idle.min) is %d, outside 0 to max", p.Min))
	}
	if p.Step <= 0 {
		missing = append(missing, fmt.Sprintf("interval width is %s", p.Step))
	}
	return missing
}

func notEnough(a PoolAdvice, reason string, missing ...string) PoolAdvice {
	a.Verdict, a.Reason, a.Missing, a.Criterion = NotEnoughData, reason, missing, ""
	a.DeltaConnectionsPerProcess, a.DeltaConnectionsService = 0, 0
	a.DeltaMemoryPerProcess, a.DeltaMemoryService = 0, 0
	a.Recommended, a.RecommendedMin = a.Current, a.CurrentMin
	return a
}

// measure reduces the intervals to the demand figures. An interval counts
// when its in-use figure is finite and not negative; a negative, NaN or
// infinite waiting figure makes the wait unknown for that interval.
func (c config) measure(p Pool) demand {
	var d demand
	var demands, inUse []float64
	var used, acquisitions float64
	var loaded []Interval
	for _, iv := range p.Intervals {
		if !nonNegative(iv.InUse) {
			continue
		}
		d.valid++
		w := 0.0
		if nonNegative(iv.Waiting) {
			d.waitKnown, w = true, iv.Waiting
		}
		demands, inUse = append(demands, iv.InUse+w), append(inUse, iv.InUse)
		d.busy = d.busy || iv.InUse > 0
		if iv.InUse > 0 && nonNegative(iv.Hold) && iv.Hold > 0 && !math.IsInf(iv.InUse/iv.Hold, 0) {
			used += iv.InUse
			acquisitions += iv.InUse / iv.Hold
			loaded = append(loaded, iv)
		}
	}
	d.high, d.highInUse = quantile(demands, c.quantile), quantile(inUse, c.quantile)
	d.acquired = acquisitions > 0 && !math.IsInf(acquisitions, 0)
	d.hold = math.NaN()
	if d.acquired {
		d.hold = used / acquisitions
	}
	d.bound, d.boundWhy, d.saturated = serverBound(loaded)
	d.serverBusy, _ = MedianServerBusy(loaded)
	return d
}

// maxProcesses bounds the process count so that budgets (processes x size)
// stay far from integer overflow.
const maxProcesses = 1_000_000

// roundingSlack keeps 40 x 1.1 = 44.000000000000007 from becoming 45.
const roundingSlack = 1e-9

// sizeOf rounds a number of connections up to a size, at most MaxPoolSize.
func sizeOf(x float64) int {
	if !(x < MaxPoolSize) { // NaN or too large
		return MaxPoolSize
	}
	return int(math.Ceil(x - roundingSlack))
}

// nonNegative: a usable measurement (not NaN, not infinite, not negative).
func nonNegative(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }

// quantile is the q quantile of xs by linear interpolation between order
// statistics (Prometheus's quantile_over_time does the same); NaN for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := q * float64(len(s)-1)
	lo := int(math.Floor(rank))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (rank-float64(lo))*(s[lo+1]-s[lo])
}

// size turns the demand into a size (see the package documentation): the
// smallest size whose M/M/c wait p99 at the busy-interval load meets the
// target, but no more than the observed peak plus headroom (a pool as
// large as every caller seen at once makes nobody wait, and M/M/c, which
// assumes endless callers, overstates a closed population's need), and no
// less than the busy-interval demand plus headroom.
func (c config) size(a PoolAdvice, p Pool, d demand) PoolAdvice {
	if cl, ok := c.closed(p, d); ok {
		return c.sizeClosed(a, p, d, cl)
	}
	model, wait, ok := sizeForWait(d.high, d.hold, 0.99, c.waitTarget.Seconds(), MaxPoolSize)
	a.Criterion = CriterionWait
	basis := fmt.Sprintf("M/M/c puts the wait p99 at %s with %d connection(s)", FormatSeconds(wait), model)
	if !ok {
		basis = fmt.Sprintf("M/M/c cannot meet %s within %d connections", c.waitTarget, MaxPoolSize)
	}
	peak, peakKnown := math.Max(p.PeakDemand, math.Ceil(d.high-roundingSlack)), nonNegative(p.PeakDemand)
	if capAt := sizeOf(peak * (1 + c.headroom)); peakKnown && capAt < model {
		model, a.Criterion = capAt, CriterionPeak
		basis = fmt.Sprintf("at most %.0f callers wanted a connection at once, so %d (+%.0f%%) makes none wait", peak, capAt, c.headroom*100)
	}
	model, basis = a.atLeast(model, basis, d.high, c.headroom)
	return c.decide(a, p, d, model, fmt.Sprintf("busy-interval demand %.1f connections (in use + waiting, q%g), hold %s: %s",
		d.high, c.quantile, FormatSeconds(d.hold), basis))
}

// atLeast raises the model's size to load plus headroom, saying so.
func (a *PoolAdvice) atLeast(model int, basis string, load, headroom float64) (int, string) {
	floor := sizeOf(load * (1 + headroom))
	if floor > model {
		a.Criterion = CriterionOfferedLoad
	}
	switch {
	case floor <= model:
		return model, basis
	case headroom == 0:
		return floor, fmt.Sprintf("%s; %d for the offered load", basis, floor)
	}
	return floor, fmt.Sprintf("%s; %d with %.0f%% headroom", basis, floor, headroom*100)
}

// decide takes the model's size, sends callers that wait too long
// although it fits the pool to the bursts check, and judges the rest.
func (c config) decide(a PoolAdvice, p Pool, d demand, model int, why string) PoolAdvice {
	raised, seen := c.seenDemand(max(model, 1), c.inStepCheckSize(max(model, 1), p, d), p, d)
	if raised > model {
		a.Criterion = CriterionBursts
	}
	a.ModelSize, why = raised, why+seen
	a.ExpectedWaitP99 = c.expectedWait(a.ModelSize, p, d)
	a.waitAtSize = func(n int) float64 { return c.expectedWait(n, p, d) }
	if cl, ok := c.closed(p, d); ok && cl.e2e != nil {
		a.p99AtSize = func(n int) float64 {
			return cl.e2e.quantile(newClosedQueue(n, cl.callers, cl.beta, cl.waitHold))
		}
	}
	if d.saturated {
		return c.saturated(a, p, d)
	}
	if c.waitsTooLong(p) && a.ModelSize <= p.Max && !d.bound {
		return c.bursts(a, p, d)
	}
	return c.judge(a, p, d, why)
}

// expectedWait is the model's wait p99 at size n: none when n covers every
// caller seen at once.
func (c config) expectedWait(n int, p Pool, d demand) float64 {
	if cl, ok := c.closed(p, d); ok {
		return closedWait(n, cl.callers, cl.beta, cl.waitHold, 0.99)
	}
	if nonNegative(p.PeakDemand) && float64(n) >= math.Max(p.PeakDemand, d.high) {
		return 0
	}
	return waitAt(n, d.high, d.hold, 0.99)
}

// waitsTooLong: the observed wait p99 is above the target.
func (c config) waitsTooLong(p Pool) bool {
	return nonNegative(p.WaitP99) && p.WaitP99 > c.waitTarget.Seconds()
}

// bursts handles callers that wait longer than the target although the
// busy-interval load fits the pool: demand comes in bursts shorter than an
// interval. The sampled peak says how large when it caught one; otherwise
// the data cannot say how large a pool the bursts need.
func (c config) bursts(a PoolAdvice, p Pool, d demand) PoolAdvice {
	observed := fmt.Sprintf("callers wait %s at p99 (target %s) although the busy-interval demand %.1f fits %d connections: the demand comes in bursts shorter than an interval",
		FormatSeconds(p.WaitP99), c.waitTarget, d.high, p.Max)
	peakSize := 0
	if nonNegative(p.PeakDemand) {
		peakSize = sizeOf(p.PeakDemand * (1 + c.headroom))
	}
	if peakSize <= p.Max {
		return notEnough(a, observed+", and no peak shows how large",
			"a per-interval high-water mark of demand (connections in use + callers waiting)")
	}
	// The model said the load fits the pool: its wait at a size below the
	// burst (a capped one) would be 0, which the waits seen disprove.
	a.ModelSize, a.ExpectedWaitP99, a.waitAtSize, a.p99AtSize, a.Criterion = peakSize, 0, nil, nil, CriterionPeak
	return c.judge(a, p, d, fmt.Sprintf("%s; a burst of %.0f callers at once was seen: %d (+%.0f%%)", observed, p.PeakDemand, peakSize, c.headroom*100))
}

// judge compares the model's size with the configured one.
func (c config) judge(a PoolAdvice, p Pool, d demand, why string) PoolAdvice {
	keepUpTo := sizeOf(float64(a.ModelSize)*(1+c.keepMargin)) + 1
	switch {
	case (a.ModelSize > p.Max || c.waitsTooLong(p)) && d.bound:
		a.Verdict, a.Recommended, a.ExpectedWaitP99, a.p99AtSize = ServerBound, p.Max, math.NaN(), nil
		a.Reason = fmt.Sprintf("callers would need more than %d connections, but %s: more connections would move the queue into the server, not shorten it", p.Max, d.boundWhy)
	case a.ModelSize > p.Max:
		a.Verdict, a.Recommended = Grow, a.ModelSize
		a.Reason = why
	case p.Max > keepUpTo && !c.waitsTooLong(p):
		a.Verdict, a.Recommended = Shrink, a.ModelSize
		a.Reason = why
	default:
		a.Verdict, a.Recommended = Keep, p.Max
		a.ExpectedWaitP99 = c.expectedWait(p.Max, p, d)
		a.Reason = fmt.Sprintf("%s; %d is within %.0f%% (+1) of that", why, p.Max, c.keepMargin*100)
	}
	a.RecommendedMin = min(p.Min, a.Recommended)
	return costs(a, p)
}

// costs fills in the change in connections and memory.
func costs(a PoolAdvice, p Pool) PoolAdvice {
	a.openNow = float64(p.Max)
	if nonNegative(p.OpenMean) {
		a.openNow = p.OpenMean
	}
	a.memoryPerConnection = math.NaN()
	if nonNegative(p.MemoryPerConnection) && p.MemoryPerConnection > 0 {
		a.memoryPerConnection = p.MemoryPerConnection
	}
	return a.withCosts()
}

// withCosts fills in the change in connections and memory from Recommended.
func (a PoolAdvice) withCosts() PoolAdvice {
	now, after := a.openNow, a.openNow
	switch {
	case a.Recommended > a.Current:
		after = float64(a.Recommended)
	case a.Recommended < a.Current:
		after = math.Min(now, float64(a.Recommended))
	}
	a.DeltaConnectionsPerProcess = after - now
	a.DeltaConnectionsService = a.DeltaConnectionsPerProcess * float64(a.Processes)
	a.DeltaMemoryPerProcess = a.DeltaConnectionsPerProcess * a.memoryPerConnection
	a.DeltaMemoryService = a.DeltaConnectionsService * a.memoryPerConnection
	return a
}

// FormatSeconds prints a duration in seconds the way people read latencies:
// 69µs, 4.313ms; "unknown" for NaN, "unbounded" for +Inf.
func FormatSeconds(s float64) string {
	switch {
	case math.IsNaN(s):
		return "unknown"
	case math.IsInf(s, 1):
		return "unbounded"
	case s == 0:
		return "0"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond).String()
}
