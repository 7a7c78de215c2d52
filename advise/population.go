package advise

import (
	"fmt"
	"math"
)

// longHoldFactor: a pool whose mean hold is this many times the wait
// target or more is sized by the endless-population model capped at the
// peak (see closed).
const longHoldFactor = 10

// population is a closed set of callers: how many, and what one of them
// asks of the pool when nobody waits (β = hold / think time).
type population struct {
	callers int
	beta    float64
	offered float64 // callers x β/(1+β): connections in use if nobody waited
	// waitHold is the hold the M/M/c//N waits use: the mean hold, times
	// the recorded holds' waitScale when they are recorded.
	waitHold float64
	// e2e is the end-to-end criterion, nil without recorded hold times
	// (the wait p99 alone then decides).
	e2e *endToEnd
}

// closed estimates the pool's callers as a closed population (see
// closed.go) when the peak demand is known: the peak is the most callers
// that wanted a connection at once, so at most that many callers are
// there. In each interval, Little's law splits the callers into those
// holding (in use U), waiting (W) and thinking (T = N - U - W); one
// caller's load is β = S/Z = U/T, the same at every pool size, where U + W
// itself is not: a pool too small makes callers wait who would otherwise
// think, and their waiting would be counted as demand. β is taken at the
// load quantile over the intervals, as the demand is.
//
// Not for holds of longHoldFactor times the wait target or more: a caller
// that waits there at all waits many times the target, so the pool must
// make nearly nobody wait, and callers with steady holds and think times
// (blocking commands with a timeout, sessions) fall into step once one has
// waited, which the model's random times do not capture: those pools keep
// the endless-population model capped at the peak.
func (c config) closed(p Pool, d demand) (population, bool) {
	if !nonNegative(p.PeakDemand) || !(d.hold < longHoldFactor*c.waitTarget.Seconds()) {
		return population{}, false
	}
	n := sizeOf(math.Max(p.PeakDemand, d.high))
	if p.PeakRecorded {
		// A mean over an interval never exceeds the most at once: a busy
		// interval's demand above the recorded mark is the rates' noise.
		n = sizeOf(p.PeakDemand)
	}
	if n < 1 || n >= MaxPoolSize {
		return population{}, false
	}
	var betas []float64
	for _, iv := range p.Intervals {
		if !nonNegative(iv.InUse) {
			continue
		}
		w := 0.0
		if nonNegative(iv.Waiting) {
			w = iv.Waiting
		}
		thinking := float64(n) - iv.InUse - w
		if thinking < thinkingNoise*float64(n) {
			thinking = minThinking
		}
		betas = append(betas, iv.InUse/thinking)
	}
	beta := quantile(betas, c.quantile)
	if !nonNegative(beta) {
		return population{}, false
	}
	cl := population{callers: n, beta: beta, offered: float64(n) * beta / (1 + beta), waitHold: d.hold}
	if h, ok := newHoldTimes(p.Holds, d.hold); ok {
		e := newEndToEnd(h, 0.99, c.waitTarget.Seconds())
		cl.e2e, cl.waitHold = &e, d.hold*h.waitScale()
	}
	return cl, true
}

// thinkingNoise: in use and waiting come from rates of histogram sums
// over one step, which carry a few percent of error (window edges,
// extrapolation); callers found thinking less than this share of the
// time cannot be told from callers that never pause, and are taken as
// such (minThinking), so that a pool of callers in a tight loop is never
// sized below its callers.
const thinkingNoise = 0.1

// minThinking keeps β finite when every caller held or waited through an
// interval: it is then large enough that only a pool of every caller makes
// none wait.
const minThinking = 1e-3

// sizeClosed is the smallest size that meets the criterion (the
// end-to-end p99 where the hold times are recorded, else the wait p99),
// and no less than the busy intervals' offered load: with 10% headroom
// under the wait criterion; without under the end-to-end one, whose 10%
// (or the wait target) of latency is the headroom already. The floor
// matters there: a pool below the offered load makes every caller wait a
// little, which can stay within the end-to-end slack while throughput
// falls.
func (c config) sizeClosed(a PoolAdvice, p Pool, d demand, cl population) PoolAdvice {
	model, basis := c.closedModel(cl)
	a.Criterion = CriterionWait
	headroom := c.headroom
	if cl.e2e != nil {
		a.Criterion, headroom = CriterionEndToEnd, 0
	}
	model, basis = a.atLeast(model, basis, cl.offered, headroom)
	if model > cl.callers {
		// Headroom past the callers buys nothing: a closed set of N callers
		// never holds more than N connections at once.
		model, basis, a.Criterion = cl.callers, fmt.Sprintf("%s; capped at the %d callers", basis, cl.callers), CriterionCallers
	}
	why := fmt.Sprintf("%d callers (the peak) each asking %.2f of a connection when none waits (%.1f connections, q%g), hold %s: %s",
		cl.callers, cl.beta/(1+cl.beta), cl.offered, c.quantile, FormatSeconds(d.hold), basis)
	return c.decide(a, p, d, model, why)
}

// closedModel is the M/M/c//N size for the criterion, and why.
func (c config) closedModel(cl population) (int, string) {
	if cl.e2e == nil {
		model := closedSize(cl.callers, cl.beta, cl.waitHold, 0.99, c.waitTarget.Seconds())
		return model, fmt.Sprintf("sized for the wait p99 (no hold times recorded: db.client.connection.use_time buckets): M/M/c//N puts it at %s with %d connection(s)",
			FormatSeconds(closedWait(model, cl.callers, cl.beta, cl.waitHold, 0.99)), model)
	}
	e := cl.e2e
	model := e.size(cl, cl.waitHold)
	at := e.quantile(newClosedQueue(model, cl.callers, cl.beta, cl.waitHold))
	return model, fmt.Sprintf("sized for the end-to-end p99 (wait + hold, within max(10%%, %s) of no wait): the recorded holds (Cs² %.2f, waits x%.2f) and M/M/c//N's waits put it at %s with %d connection(s), against %s with no wait (at most %s), the wait p99 then %s",
		c.waitTarget, e.holds.cs2, e.holds.waitScale(), FormatSeconds(at), model, FormatSeconds(e.bare), FormatSeconds(e.limit),
		FormatSeconds(closedWait(model, cl.callers, cl.beta, cl.waitHold, 0.99)))
}
