package advise

import (
	"math"
	"testing"
)

// hist is a cumulative histogram with a +Inf bucket.
func hist(bounds []float64, counts ...float64) Histogram {
	return Histogram{Bounds: append(append([]float64(nil), bounds...), math.Inf(1)), Counts: counts}
}

// Hand-computed with Prometheus's histogram_quantile rules: linear inside
// the bucket, the first bucket from 0, the +Inf bucket gives the last
// finite bound.
func TestHistogramQuantileAndAbove(t *testing.T) {
	h := hist([]float64{1, 2, 4}, 10, 30, 40, 40)
	for _, tc := range []struct{ q, want float64 }{
		{0.25, 1},  // rank 10: the top of (0, 1]
		{0.5, 1.5}, // rank 20: 10 below, 20 in (1, 2]
		{0.9, 3.2}, // rank 36: 30 below, 10 in (2, 4]
		{1, 4},
		{0, 0},
	} {
		expectFloat(t, "quantile", h.Quantile(tc.q), tc.want)
		if tc.q > 0 {
			expectFloat(t, "above its quantile", h.Above(tc.want), 1-tc.q)
		}
	}
	expectFloat(t, "bucket of q0.5", h.BucketOf(0.5), 2)
	expectFloat(t, "above 0", h.Above(0), 1)
	expectFloat(t, "above 100", h.Above(100), 0)

	tail := hist([]float64{1, 2, 4}, 10, 30, 40, 50)
	expectFloat(t, "quantile in +Inf", tail.Quantile(0.9), 4)
	expectFloat(t, "above 5", tail.Above(5), 0.2)
	expectFloat(t, "bucket of q0.9", tail.BucketOf(0.9), math.Inf(1))

	for name, empty := range map[string]Histogram{"zero": {}, "no observations": hist([]float64{1}, 0, 0),
		"mismatched": {Bounds: []float64{1}, Counts: []float64{1, 2}}} {
		if !math.IsNaN(empty.Quantile(0.5)) || !math.IsNaN(empty.Above(1)) || !math.IsNaN(empty.BucketOf(0.5)) {
			t.Errorf("%s: want NaN from Quantile, Above and BucketOf", name)
		}
	}
}

func TestHistogramSince(t *testing.T) {
	earlier, later := hist([]float64{1, 2}, 5, 8, 10), hist([]float64{1, 2}, 7, 18, 30)
	got := later.Since(earlier)
	want := []float64{2, 10, 20}
	for i := range want {
		expectFloat(t, "since", got.Counts[i], want[i])
	}
	// A restart (fewer observations) or other buckets: all since the restart.
	if got := earlier.Since(later); got.Total() != 10 {
		t.Errorf("after a reset: total %v, want 10", got.Total())
	}
	if got := later.Since(hist([]float64{5}, 1, 1)); got.Total() != 30 {
		t.Errorf("other buckets: total %v, want 30", got.Total())
	}
}
