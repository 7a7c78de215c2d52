package advise

import "math"

// The end-to-end criterion: the (and the oracle benchmark's)
// measure of a pool size is what its callers see, the p99 of pool wait +
// command, against what a pool that never makes them wait gives: the
// smallest size whose end-to-end p99 is within max(10%, the wait target)
// of the p99 with no wait. A closed population whose callers wait briefly
// (a tenth of them, a fraction of a hold) moves the p99 of the sum much
// less than the wait's own p99: the callers at the hold's tail are rarely
// the ones that waited. The model convolves the M/M/c//N wait at a size
// (its hold corrected for the holds' variability: waitScale) with the
// recorded hold times (holdtimes.go):
//
//	P(wait + hold > t) = Σ_j mass_j · P(wait > t - at_j)
//
// and finds its p99 by bisection.

// endToEndSlack is the relative part of the criterion: 10% of the p99
// with no wait (the wait target is the absolute part).
const endToEndSlack = 0.1

// endToEnd is the criterion for one pool: its holds and the p99 with no
// wait.
type endToEnd struct {
	holds holdTimes
	q     float64 // the quantile judged (0.99)
	bare  float64 // the q quantile of the holds alone: the p99 with no wait
	limit float64 // bare + max(10% of it, the wait target)
}

func newEndToEnd(h holdTimes, q, target float64) endToEnd {
	e := endToEnd{holds: h, q: q}
	e.bare = e.quantile(closedQueue{never: true})
	e.limit = e.bare + math.Max(endToEndSlack*e.bare, target)
	return e
}

// tail is P(wait + hold > t) for the waits of queue w.
func (e endToEnd) tail(w closedQueue, t float64) float64 {
	p := 0.0
	for j, at := range e.holds.at {
		if at > t {
			p += e.holds.mass[j]
			continue
		}
		p += e.holds.mass[j] * w.tail(t-at)
	}
	return p
}

// quantile is the q quantile of wait + hold for the waits of queue w;
// +Inf when callers wait without end.
func (e endToEnd) quantile(w closedQueue) float64 {
	if w.all {
		return math.Inf(1)
	}
	lo, hi := 0.0, e.holds.at[len(e.holds.at)-1]+w.hold
	for e.tail(w, hi) > 1-e.q {
		if hi *= 2; hi > 1e9 {
			return math.Inf(1)
		}
	}
	for range 50 {
		mid := (lo + hi) / 2
		if e.tail(w, mid) > 1-e.q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// size is the smallest size up to the callers' count (which never makes
// a caller wait, so always meets it) whose end-to-end p99 meets the limit,
// for the population cl, with the M/M/c//N waits' hold waitHold.
func (e endToEnd) size(cl population, waitHold float64) int {
	lo, hi := 1, cl.callers
	for lo < hi {
		mid := (lo + hi) / 2
		// The p99 is within the limit exactly when at most 1% of callers
		// take longer: one pass over the holds, not a search for the p99.
		if e.tail(newClosedQueue(mid, cl.callers, cl.beta, waitHold), e.limit) <= 1-e.q {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
