package advise

import (
	"fmt"
	"math"
)

// The demand each caller found as it asked (redis.client.connection.demand): its q
// quantile says that at a pool of that size about 1-q of the callers
// found every connection taken. Where nobody waits this is exact, whatever
// the timing of the callers: a burst of 16 callers that wake together shows
// up as callers that found 10 to 16, which the intervals' mean load
// (3.4) and the peak (16, the same as 16 callers at random) cannot tell
// from independent callers. In a pool too small, waiting callers stay in
// the demand instead of thinking, which inflates it: there the closed
// model, which reads each caller's own load, stays the better judge.

// inStepFactor and inStepSlack: the callers are taken to come in step when
// the share of callers that found more demand than the model's size is
// above inStepFactor times what the model expects plus inStepSlack. Random
// callers stay within a few times the model's share: the rate-derived load
// carries a few percent of error, and fixed think times or a network that
// delivers in batches bunch callers a little (the benchmark's steady and
// pipeline shapes showed 2 to 3 times the model's share on a loaded 2-core
// machine); callers that wake together show tens of times more (its bursts
// shape: 87% where the model expected 2.4%).
const (
	inStepFactor = 4
	inStepSlack  = 0.05
)

// seenDemand checks the model against the demand the callers saw at
// size at (where the model expects few of them to find the pool full),
// and raises the model's size when the callers come in step.
func (c config) seenDemand(model, at int, p Pool, d demand) (int, string) {
	h := p.Demand
	if !(h.Total() > 0) {
		return model, "; no per-caller demand recorded (redis.client.connection.demand: an older poolscope), so bursts within an interval are judged from the peak alone"
	}
	q := h.Quantile(c.quantile)
	if full := h.Above(float64(p.Max)); full > 1-c.quantile {
		return model, fmt.Sprintf("; the demand callers found (q%g %.1f) is not used: %.1f%% of them found the pool full, and waiting inflates it",
			c.quantile, q, 100*full)
	}
	expected := c.fullShare(at, p, d)
	seen := h.Above(float64(at))
	if !(seen > inStepFactor*expected+inStepSlack) {
		return model, fmt.Sprintf("; callers found a demand above %d %.1f%% of the time against the model's %.1f%%: not in step (callers that come in bursts show over %g times the model's share plus %g points)",
			at, 100*seen, 100*expected, float64(inStepFactor), 100*inStepSlack)
	}
	allowed := math.Max(expected, 1-c.quantile)
	need := h.Quantile(1 - allowed)
	size := sizeOf(need * (1 + c.headroom))
	if nonNegative(p.PeakDemand) {
		// A closed set of callers never holds more connections than were
		// ever wanted at once.
		size = min(size, max(sizeOf(p.PeakDemand), 1))
	}
	return max(size, model), fmt.Sprintf("; but %.1f%% of callers found a demand above %d where the model expects %.1f%%: the callers come in step (bursts), and the demand callers found at q%.3g, %.1f, +%.0f%% gives %d, at most %s",
		100*seen, at, 100*expected, 1-allowed, need, c.headroom*100, size, capText(p))
}

// inStepCheckSize is the size at which the demand callers found is
// compared with the model: the model's own size, or, where the end-to-end
// criterion sized it, the larger size the wait criterion gives. The
// end-to-end criterion lets many callers wait briefly, and at a size where
// the model expects 40% of callers to find the pool full, callers in step
// (89% of them) no longer stand out; at the wait criterion's size (the
// model expects a few percent) they do, as before.
func (c config) inStepCheckSize(model int, p Pool, d demand) int {
	cl, ok := c.closed(p, d)
	if !ok || cl.e2e == nil {
		return model
	}
	return max(model, closedSize(cl.callers, cl.beta, cl.waitHold, 0.99, c.waitTarget.Seconds()))
}

// capText names what bounds a size raised for bursts.
func capText(p Pool) string {
	if nonNegative(p.PeakDemand) {
		return fmt.Sprintf("the %.0f callers seen at once", p.PeakDemand)
	}
	return "the size cap"
}

// fullShare is the share of callers the model expects to find every
// connection of a pool of n taken (to wait at all).
func (c config) fullShare(n int, p Pool, d demand) float64 {
	if cl, ok := c.closed(p, d); ok {
		return closedTail(n, cl.callers, cl.beta, cl.waitHold, 0)
	}
	return erlangAt(n, d.high).probWait()
}
