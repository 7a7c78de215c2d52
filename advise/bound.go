package advise

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Thresholds of the server-bound test: concurrency must vary enough to
// compare (the busiest third of the intervals holds at least 1.5 times the
// connections of the quietest third), and the hold time (or the command
// latency, when recorded) must rise by at least half with it. At a constant
// hold time, throughput grows in proportion to the connections in use (Little's
// law: throughput = in use / hold); a hold time that grows with the
// connections in use means throughput stopped following: what serves the
// connections is saturated.
const (
	boundMinIntervals    = 6
	boundConcurrencyRise = 1.5
	boundHoldRise        = 1.5
)

// serverBound says whether the server is the bottleneck. Where the
// server's busy share is recorded for at least half of the loaded intervals
// (in use > 0, hold known), it decides alone: the server is saturated when
// the median of them is at least serverBusyLimit. CPU time does not advance
// while a machine stalls, so a stall that lengthens hold times does not
// make a busy server of an idle one. Otherwise the hold times decide
// (holdRises).
func serverBound(loaded []Interval) (bound bool, why string, saturated bool) {
	if median, n := MedianServerBusy(loaded); n > 0 && 2*n >= len(loaded) {
		if median < serverBusyLimit {
			return false, "", false
		}
		return true, fmt.Sprintf("the server's main thread was busy %.0f%% of the time (median of %d intervals)", 100*median, n), true
	}
	bound, why = holdRises(loaded)
	return bound, why, false
}

// MedianServerBusy is the median server busy share of the intervals that
// have one (above 0), and how many do; NaN and 0 for none.
func MedianServerBusy(ivs []Interval) (median float64, n int) {
	var busy []float64
	for _, iv := range ivs {
		if nonNegative(iv.ServerBusy) && iv.ServerBusy > 0 {
			busy = append(busy, iv.ServerBusy)
		}
	}
	if len(busy) == 0 {
		return math.NaN(), 0
	}
	return quantile(busy, 0.5), len(busy)
}

// holdRises compares the quietest and busiest thirds of the loaded
// intervals.
func holdRises(loaded []Interval) (bool, string) {
	if len(loaded) < boundMinIntervals {
		return false, ""
	}
	s := slices.Clone(loaded)
	slices.SortFunc(s, func(a, b Interval) int { return cmp.Compare(a.InUse, b.InUse) })
	third := len(s) / 3
	low, high := s[:third], s[len(s)-third:]
	inLow, inHigh := mean(low, func(i Interval) float64 { return i.InUse }), mean(high, func(i Interval) float64 { return i.InUse })
	if inHigh < boundConcurrencyRise*inLow {
		return false, ""
	}
	if cl, ch := mean(low, cmdLatency), mean(high, cmdLatency); cl > 0 && ch >= boundHoldRise*cl {
		return true, fmt.Sprintf("command latency rose from %s to %s as connections in use rose from %.1f to %.1f",
			FormatSeconds(cl), FormatSeconds(ch), inLow, inHigh)
	}
	hl, hh := mean(low, func(i Interval) float64 { return i.Hold }), mean(high, func(i Interval) float64 { return i.Hold })
	if hh >= boundHoldRise*hl {
		return true, fmt.Sprintf("the hold time rose from %s to %s as connections in use rose from %.1f to %.1f",
			FormatSeconds(hl), FormatSeconds(hh), inLow, inHigh)
	}
	return false, ""
}

// cmdLatency is an interval's command latency, NaN when not recorded.
func cmdLatency(i Interval) float64 {
	if !nonNegative(i.CommandLatency) || i.CommandLatency == 0 {
		return math.NaN()
	}
	return i.CommandLatency
}

// mean of f over the intervals; NaN when any is NaN (the comparison then
// fails, which is what an unknown figure should do).
func mean(xs []Interval, f func(Interval) float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += f(x)
	}
	return sum / float64(len(xs))
}
