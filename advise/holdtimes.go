package advise

import "math"

// The hold times of a pool: how long callers keep a connection per
// acquisition, db.client.connection.use_time's buckets. A caller's
// end-to-end latency is its wait for a connection plus its hold (the
// command on the connection), so the p99 of wait + hold, not of the wait
// alone, is what the oracle's criterion judges (see endtoend.go).
//
// Buckets are coarse (1-2-5 per decade: a hold of 1.2 ms and one of 4.9 ms
// share the 2-5 ms bucket), but the mean is exact (sum over count). Within
// every bucket the holds are taken to follow one truncated exponential
// shape, density ∝ e^(-κu) over the bucket's width (u from 0 to 1), with
// the single κ for which the distribution's mean is the recorded mean: a
// mean near a bucket's lower bound puts the mass there with a tail towards
// the upper bound, as latencies have; a mean in the middle spreads it
// evenly (κ = 0). Observations above the last finite bound are put at that
// bound, as Prometheus's histogram_quantile does.

// holdPointsPerBucket discretises each bucket for the convolution.
const holdPointsPerBucket = 32

// holdTimes is the hold-time distribution as points and their masses.
type holdTimes struct {
	at   []float64 // seconds, increasing
	mass []float64 // sums to 1
	mean float64   // seconds
	// cs2 is the squared coefficient of variation, variance / mean²: 1
	// for exponential holds (what M/M/c//N assumes), near 0 for holds of
	// nearly one length.
	cs2 float64
}

// newHoldTimes shapes the histogram h to the recorded mean (seconds); ok
// is false when h has no observations, bad buckets or a mean that is not
// positive.
func newHoldTimes(h Histogram, mean float64) (holdTimes, bool) {
	total := h.Total()
	if !(total > 0) || len(h.Bounds) != len(h.Counts) || !(mean > 0) || math.IsInf(mean, 1) {
		return holdTimes{}, false
	}
	type bucket struct{ lo, hi, w float64 }
	var bs []bucket
	below, lo := 0.0, 0.0
	for i, c := range h.Counts {
		hi := h.Bounds[i]
		if math.IsInf(hi, 1) {
			hi = lo // beyond the last finite bound: at that bound
		}
		if !(hi >= lo) || math.IsNaN(c) || c < below {
			return holdTimes{}, false
		}
		if w := (c - below) / total; w > 0 {
			bs = append(bs, bucket{lo, hi, w})
		}
		below, lo = c, hi
	}
	a, b := 0.0, 0.0 // mean = a + b·m(κ)
	for _, x := range bs {
		a, b = a+x.w*x.lo, b+x.w*(x.hi-x.lo)
	}
	kappa := 0.0
	if b > 0 {
		kappa = kappaForMean(math.Min(math.Max((mean-a)/b, 0.01), 0.99))
	}
	var ht holdTimes
	for _, x := range bs {
		for i := range holdPointsPerBucket {
			f := (float64(i) + 0.5) / holdPointsPerBucket
			ht.at = append(ht.at, x.lo+(x.hi-x.lo)*truncExpQuantile(kappa, f))
			ht.mass = append(ht.mass, x.w/holdPointsPerBucket)
		}
	}
	var m, m2 float64
	for i, t := range ht.at {
		m, m2 = m+ht.mass[i]*t, m2+ht.mass[i]*t*t
	}
	if !(m > 0) {
		return holdTimes{}, false
	}
	ht.mean, ht.cs2 = m, math.Max(m2-m*m, 0)/(m*m)
	return ht, true
}

// truncExpMean is the mean of u over [0, 1] with density ∝ e^(-κu):
// 1/2 at κ = 0, towards 0 as κ grows, towards 1 as it falls.
func truncExpMean(kappa float64) float64 {
	if math.Abs(kappa) < 1e-6 {
		return 0.5
	}
	return 1/kappa - 1/math.Expm1(kappa)
}

// kappaForMean inverts truncExpMean by bisection (it falls as κ grows).
func kappaForMean(m float64) float64 {
	lo, hi := -200.0, 200.0
	for range 100 {
		mid := (lo + hi) / 2
		if truncExpMean(mid) > m {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// truncExpQuantile is the f quantile of u over [0, 1] with density
// ∝ e^(-κu).
func truncExpQuantile(kappa, f float64) float64 {
	if math.Abs(kappa) < 1e-6 {
		return f
	}
	return -math.Log1p(f*math.Expm1(-kappa)) / kappa
}

// waitScale corrects the exponential holds of M/M/c//N for the holds'
// variability, as the Allen-Cunneen approximation does for M/G/c: a
// caller that finds every connection taken waits for the first to come
// back, which takes about (1 + Cs²)/2 of what exponential holds give (half
// for holds of one length, the same for exponential ones). The share of
// callers that wait is left as the model gives it. Bounded to 0.5 to 2:
// buckets cannot tell a wider spread from their own width.
func (h holdTimes) waitScale() float64 {
	return math.Min(math.Max((1+h.cs2)/2, 0.5), 2)
}
