package advise

import (
	"math"
	"slices"
)

// Histogram is a cumulative bucketed histogram as Prometheus stores one:
// Bounds are the buckets' upper bounds in increasing order (the last may be
// +Inf), Counts[i] the number of observations at or below Bounds[i]. The
// zero Histogram is empty: not recorded, or nothing observed.
type Histogram struct {
	Bounds []float64
	Counts []float64
}

// Total is the number of observations.
func (h Histogram) Total() float64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// Since is what was observed after earlier, an older reading of the same
// series. A reset (fewer observations than before) or other buckets give h
// itself: all it has seen since it started again.
func (h Histogram) Since(earlier Histogram) Histogram {
	if len(earlier.Counts) != len(h.Counts) || earlier.Total() > h.Total() {
		return h
	}
	out := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts))}
	for i, c := range h.Counts {
		out.Counts[i] = math.Max(c-earlier.Counts[i], 0)
	}
	return out
}

// Plus is h and o added bucket by bucket (two series of one histogram,
// such as two processes' or two attribute sets'); the one that is not
// empty when the other is, and h when their buckets differ.
func (h Histogram) Plus(o Histogram) Histogram {
	switch {
	case len(o.Counts) == 0:
		return h
	case len(h.Counts) == 0:
		return o
	case !slices.Equal(h.Bounds, o.Bounds) || len(h.Counts) != len(o.Counts):
		return h
	}
	out := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts))}
	for i := range h.Counts {
		out.Counts[i] = h.Counts[i] + o.Counts[i]
	}
	return out
}

// Quantile is the q quantile, interpolated linearly inside its bucket as
// Prometheus's histogram_quantile does: the first bucket starts at 0 (or at
// its bound, when that is negative), and a quantile in the +Inf bucket is
// the last finite bound. NaN for an empty histogram.
func (h Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if !(total > 0) || len(h.Bounds) != len(h.Counts) || math.IsNaN(q) {
		return math.NaN()
	}
	rank := math.Min(math.Max(q, 0), 1) * total
	below := 0.0
	for i, c := range h.Counts {
		if c < rank || c == below {
			below = c
			continue
		}
		if math.IsInf(h.Bounds[i], 1) {
			return h.lastFinite()
		}
		lo := math.Min(0, h.Bounds[i])
		if i > 0 {
			lo = h.Bounds[i-1]
		}
		return lo + (h.Bounds[i]-lo)*(rank-below)/(c-below)
	}
	return h.lastFinite()
}

// BucketOf is the upper bound of the bucket that holds the q quantile: as
// precise as the buckets allow, never below the quantile; +Inf past the
// last finite bound, NaN for an empty histogram.
func (h Histogram) BucketOf(q float64) float64 {
	total := h.Total()
	if !(total > 0) || len(h.Bounds) != len(h.Counts) {
		return math.NaN()
	}
	rank := math.Ceil(q * total)
	for i, c := range h.Counts {
		if c >= rank {
			return h.Bounds[i]
		}
	}
	return math.Inf(1)
}

// Above is the share of observations above x, interpolated linearly inside
// x's bucket as Quantile is (its inverse); NaN for an empty histogram.
func (h Histogram) Above(x float64) float64 {
	total := h.Total()
	if !(total > 0) || len(h.Bounds) != len(h.Counts) || math.IsNaN(x) {
		return math.NaN()
	}
	below := 0.0
	for i, c := range h.Counts {
		lo := math.Min(0, h.Bounds[i])
		if i > 0 {
			lo = h.Bounds[i-1]
		}
		switch {
		case x >= h.Bounds[i]:
			below = c
			continue
		case x <= lo || math.IsInf(h.Bounds[i], 1):
			return 1 - below/total
		}
		return 1 - (below+(c-below)*(x-lo)/(h.Bounds[i]-lo))/total
	}
	return 1 - below/total
}

func (h Histogram) lastFinite() float64 {
	for i := len(h.Bounds) - 1; i >= 0; i-- {
		if !math.IsInf(h.Bounds[i], 1) {
			return h.Bounds[i]
		}
	}
	return math.NaN()
}
