package advise

import "math"

// The closed-population wait model: M/M/c//N, the machine-repairman queue
// (Engset's setting). N callers each alternate between thinking (not
// wanting a connection) for Z on average and holding one for S; the pool
// has c connections. β = S/Z is what one caller asks of the pool when
// nobody waits, and a caller that waits does not ask again until served:
// unlike M/M/c, whose endless stream of callers keeps arriving however
// long the queue, the queue of a closed population is at most N - c long,
// and it slows its own arrivals.
//
// A caller arriving to the pool sees it as the other N-1 callers leave it
// (the arrival theorem): k of them holding or waiting with probability
//
//	π(k) ∝ C(N-1, k) β^k                      for k <= c
//	π(k) ∝ C(N-1, k) β^k k! / (c! c^(k-c))    for k > c
//
// With k >= c, it waits for k-c+1 of the c connections to come back, each
// after an exponential time of mean S/c: an Erlang(k-c+1, c/S) wait, so
//
//	P(wait > t) = Σ_{k>=c} π(k) Σ_{j<=k-c} e^(-x) x^j / j!,  x = c·t/S.
//
// Both sums are O(N) per size; sizes are searched by bisection (the tail
// falls as c grows), so sizing a population of 10000 callers costs about
// 14 passes of 10000 steps.

// closedTail is P(wait > t) for a caller among n with per-caller load
// beta, mean hold hold seconds, and c connections. 0 when c >= n (nobody
// ever waits); 1 when beta is not finite (callers never think).
func closedTail(c, n int, beta, hold, t float64) float64 {
	return newClosedQueue(c, n, beta, hold).tail(t)
}

// closedQueue is what an arriving caller finds at one size: the arrival
// theorem's probabilities of k other callers holding or waiting, for
// k >= c (those that make it wait), so that the tail at many t costs
// O(n - c) each.
type closedQueue struct {
	c     int
	hold  float64
	full  []float64 // full[j]: probability of c + j others holding or waiting
	never bool      // nobody ever waits
	all   bool      // every caller waits (callers never think)
}

func newClosedQueue(c, n int, beta, hold float64) closedQueue {
	q := closedQueue{c: c, hold: hold}
	switch {
	case c >= n || beta <= 0:
		q.never = true
		return q
	case !(beta < math.Inf(1)):
		q.all = true
		return q
	}
	m := n - 1 // the other callers
	logw := make([]float64, m+1)
	top := math.Inf(-1)
	lgM, _ := math.Lgamma(float64(m + 1))
	lgC, _ := math.Lgamma(float64(c + 1))
	for k := 0; k <= m; k++ {
		lgRest, _ := math.Lgamma(float64(m - k + 1))
		w := lgM - lgRest + float64(k)*math.Log(beta)
		if k <= c {
			lgK, _ := math.Lgamma(float64(k + 1))
			w -= lgK
		} else {
			w -= lgC + float64(k-c)*math.Log(float64(c))
		}
		logw[k], top = w, math.Max(top, w)
	}
	total := 0.0
	for k := range logw {
		logw[k] = math.Exp(logw[k] - top)
		total += logw[k]
	}
	for k := c; k <= m; k++ {
		q.full = append(q.full, logw[k]/total)
	}
	// Past the last term that matters, the rest only costs time (tail is
	// called for every hold time and every step of a search).
	rest := 0.0
	for len(q.full) > 0 && rest+q.full[len(q.full)-1] < negligible {
		rest += q.full[len(q.full)-1]
		q.full = q.full[:len(q.full)-1]
	}
	return q
}

// negligible is the probability mass a tail may leave out.
const negligible = 1e-15

// tail is P(wait > t): with c + j others ahead, the caller waits for j+1
// of the c connections to come back, each after an exponential time of
// mean hold/c: an Erlang(j+1, c/hold) wait.
func (q closedQueue) tail(t float64) float64 {
	switch {
	case q.never:
		return 0
	case q.all:
		return 1
	}
	x := float64(q.c) * t / q.hold
	if x > poissonDirect {
		return q.tailLog(x)
	}
	term := math.Exp(-x)
	cum, tail := term, 0.0
	for j, p := range q.full {
		if j > 0 {
			term *= x / float64(j)
			cum += term
		}
		tail += p * math.Min(cum, 1)
	}
	return math.Min(tail, 1)
}

// poissonDirect is the largest x for which e^(-x), the first term of the
// Poisson sum, is a normal float64 (it underflows to 0 past about 708,
// which made every larger pool's waits look like none).
const poissonDirect = 700

// tailLog is tail for x = c·t/hold past poissonDirect: the same sums in
// logarithms, over the Poisson sum's window x ± 40√x only: below it the
// cumulative sum is below e^-800 (0 as a float64), above it 1.
func (q closedQueue) tailLog(x float64) float64 {
	spread := poissonWindow * math.Sqrt(x)
	from := max(0, int(math.Floor(x-spread)))
	to := int(math.Ceil(x + spread))
	lx := math.Log(x)
	tail := 0.0
	var logTerm, logCum float64
	for j, p := range q.full {
		switch {
		case j < from:
			continue
		case j > to:
			tail += p
			continue
		case j == from:
			lgj, _ := math.Lgamma(float64(j + 1))
			logTerm = -x + float64(j)*lx - lgj
			logCum = logTerm
		default:
			logTerm += lx - math.Log(float64(j))
			hi, lo := math.Max(logCum, logTerm), math.Min(logCum, logTerm)
			logCum = hi + math.Log1p(math.Exp(lo-hi))
		}
		tail += p * math.Min(math.Exp(logCum), 1)
	}
	return math.Min(tail, 1)
}

// poissonWindow: a Poisson sum 40 standard deviations from its mean is
// beyond what a float64 tells from 0 or 1.
const poissonWindow = 40

// closedSize is the smallest size up to n whose q wait quantile is at most
// target, for n callers of per-caller load beta and mean hold hold.
func closedSize(n int, beta, hold, q, target float64) int {
	lo, hi := 1, n // closedTail(n, ...) is 0: n always meets the target
	for lo < hi {
		mid := (lo + hi) / 2
		if closedTail(mid, n, beta, hold, target) <= 1-q {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// closedWait is the q wait quantile at size c, by bisection on the tail;
// 0 when at most 1-q of the callers wait at all.
func closedWait(c, n int, beta, hold, q float64) float64 {
	if closedTail(c, n, beta, hold, 0) <= 1-q {
		return 0
	}
	lo, hi := 0.0, hold*float64(n)
	for closedTail(c, n, beta, hold, hi) > 1-q && hi < math.MaxFloat64/4 {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if closedTail(c, n, beta, hold, mid) > 1-q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}
