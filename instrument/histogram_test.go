package instrument

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/internal/latency"
)

// TestBucketOfMatchesTheSDK: a duration lands in the bucket the SDK's
// float comparison (value <= bound, in seconds) picks, at and around every
// bound.
func TestBucketOfMatchesTheSDK(t *testing.T) {
	for _, bounds := range [][]float64{latency.Boundaries, {0.001, 0.0025, 1e-7, 3}, {-1, 0, 1.5e-9}} {
		boundsNs := boundsInNs(bounds)
		sdk := func(v float64) int {
			for i, b := range bounds {
				if v <= b {
					return i
				}
			}
			return len(bounds)
		}
		for _, b := range bounds {
			center := int64(math.Round(b * 1e9))
			for d := center - 3; d <= center+3; d++ {
				if got, want := bucketOf(boundsNs, d), sdk(time.Duration(d).Seconds()); got != want && d >= 0 {
					t.Errorf("bounds %v: %d ns in bucket %d, the SDK's is %d", bounds, d, got, want)
				}
			}
		}
	}
}

// TestAtomicHistogram: counts, sum, min and max over every shard.
func TestAtomicHistogram(t *testing.T) {
	bounds := []float64{0.001, 0.01}
	h := newAtomicHistogram(limitsOf(bounds, true))
	for i, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond, time.Second, -time.Second} {
		h.record(int64(d), uint32(i))
	}
	s := h.snapshot()
	if s.count != 5 || s.counts[0] != 3 || s.counts[1] != 1 || s.counts[2] != 1 {
		t.Errorf("counts %v (total %d), want [3 1 1]: -1s counts as 0", s.counts, s.count)
	}
	if want := 500*time.Microsecond + time.Millisecond + 5*time.Millisecond + time.Second; time.Duration(s.sum) != want {
		t.Errorf("sum %v, want %v", s.sum, want)
	}
	if s.min != 0 || s.max != int64(time.Second) {
		t.Errorf("min %d max %d", s.min, s.max)
	}
}

// TestFallBackCopiesEverything: after a fall-back the SDK histogram holds
// what the atomic one did: the same bucket counts, count, min and max, and
// a sum within the buckets' widths.
func TestFallBackCopiesEverything(t *testing.T) {
	ctx := context.Background()
	p, r := testPoolWith(t, NewProducer())
	durations := []time.Duration{3 * time.Microsecond, 40 * time.Microsecond, 45 * time.Microsecond, 2 * time.Millisecond, 20 * time.Second}
	var sum time.Duration
	for i, d := range durations {
		p.sets.waitTime.record(ctx, d, uint32(i))
		sum += d
	}
	want := p.sets.waitTime.h.snapshot()
	p.in.fast.fallBack(ctx)
	p.sets.waitTime.record(ctx, time.Millisecond, 0) // through the SDK now

	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var dp metricdata.HistogramDataPoint[float64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "db.client.connection.wait_time" {
				dp = m.Data.(metricdata.Histogram[float64]).DataPoints[0]
			}
		}
	}
	want.counts[bucketOf(p.sets.waitTime.h.limits, int64(time.Millisecond))]++
	if dp.Count != want.count+1 || !slices.Equal(dp.BucketCounts, want.counts) {
		t.Errorf("SDK histogram: count %d buckets %v, want %d %v", dp.Count, dp.BucketCounts, want.count+1, want.counts)
	}
	if lo, _ := dp.Min.Value(); lo != durations[0].Seconds() {
		t.Errorf("min %v, want %v", lo, durations[0].Seconds())
	}
	if hi, _ := dp.Max.Value(); hi != durations[len(durations)-1].Seconds() {
		t.Errorf("max %v, want %v", hi, durations[len(durations)-1].Seconds())
	}
	if got, exact := dp.Sum, (sum + time.Millisecond).Seconds(); math.Abs(got-exact) > 0.01*exact {
		t.Errorf("sum %v, want about %v", got, exact)
	}
}

// TestAtomicHistogramLayout: every shard starts on a cache line of its own
// and no shard shares a line with another or with the allocation's
// neighbours (the padding lines).
func TestAtomicHistogramLayout(t *testing.T) {
	for _, n := range []int{0, 1, 4, 5, 19, 32} {
		limits := make([]int64, n)
		for i := range limits {
			limits[i] = int64(i + 1)
		}
		h := newAtomicHistogram(limits)
		first := uintptr(unsafe.Pointer(&h.words[0]))
		end := first + uintptr(len(h.words))*8
		for i := range numShards {
			s := h.shard(uint32(i))
			lo := uintptr(unsafe.Pointer(&s[0]))
			hi := lo + uintptr(len(s))*8
			if lo%64 != 0 || hi%64 != 0 {
				t.Errorf("%d limits, shard %d: [%#x, %#x) not on line boundaries", n, i, lo, hi)
			}
			if lo-first < 64 && i == 0 || end-hi < 64 && i == numShards-1 {
				t.Errorf("%d limits, shard %d: no padding line between it and the allocation's ends", n, i)
			}
			if len(s) < wordCounts+n+1 {
				t.Errorf("%d limits, shard %d: %d words, want at least %d", n, i, len(s), wordCounts+n+1)
			}
		}
	}
}
