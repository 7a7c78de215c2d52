package advise

import "math"

// The wait model: an M/M/c queue (Erlang C). Callers ask for a connection
// at rate λ, hold it for S on average, and the pool has c connections; the
// offered load is a = λ·S connections (Erlangs). For c > a, the probability
// that a caller waits is Erlang C, C(c, a), and the wait of a caller is
// exponential beyond that:
//
//	P(wait > t) = C(c, a) · exp(-(c - a)·t / S)
//
// so the q quantile of the wait is 0 when C(c, a) <= 1-q and otherwise
// S · ln(C(c, a) / (1-q)) / (c - a).

// erlang walks pool sizes c = 1, 2, ... keeping Erlang B, B(c, a), from
// which Erlang C follows; each step is O(1), so scanning every size up to
// the pools' cap of 10000 costs 10000 steps, not 10000².
type erlang struct {
	a float64 // offered load, connections
	c int     // current size
	b float64 // Erlang B at (c, a)
}

func newErlang(a float64) *erlang { return &erlang{a: a, b: 1} }

// next moves to size c+1. Erlang B's recurrence B(c) = a·B(c-1) / (c + a·B(c-1))
// stays in [0, 1] and never overflows, unlike the textbook sum of a^k/k!.
func (e *erlang) next() {
	e.c++
	e.b = e.a * e.b / (float64(e.c) + e.a*e.b)
}

// probWait is Erlang C at the current size: the probability that a caller
// finds every connection in use. 1 when the pool cannot keep up (c <= a).
func (e *erlang) probWait() float64 {
	c := float64(e.c)
	if c <= e.a {
		return 1
	}
	return c * e.b / (c - e.a*(1-e.b))
}

// waitQuantile is the q quantile of the wait at the current size, for a
// mean hold time of hold seconds; +Inf when the pool cannot keep up.
func (e *erlang) waitQuantile(q, hold float64) float64 {
	c := float64(e.c)
	if c <= e.a {
		return math.Inf(1)
	}
	pw, tail := e.probWait(), 1-q
	if pw <= tail {
		return 0
	}
	return hold * math.Log(pw/tail) / (c - e.a)
}

// sizeForWait returns the smallest pool size up to limit whose q wait
// quantile is at most target, with that quantile; ok is false when no size
// up to limit meets it.
func sizeForWait(a, hold, q, target float64, limit int) (size int, wait float64, ok bool) {
	e := newErlang(a)
	for e.c < limit {
		e.next()
		if w := e.waitQuantile(q, hold); w <= target {
			return e.c, w, true
		}
	}
	return limit, e.waitQuantile(q, hold), false
}

// waitAt returns the q wait quantile at pool size c.
func waitAt(c int, a, hold, q float64) float64 {
	return erlangAt(c, a).waitQuantile(q, hold)
}

// erlangAt is the M/M/c queue of offered load a at pool size c.
func erlangAt(c int, a float64) *erlang {
	e := newErlang(a)
	for e.c < c {
		e.next()
	}
	return e
}
