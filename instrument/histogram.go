package instrument

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// durationHistogram is one of poolscope's duration histograms (create, wait
// and use time, lifetime, health-check and command duration). A
// measurement goes to the SDK instrument, or, when a Producer exports the
// Instrumentation (WithProducer), to the series' own lock-free histogram:
// an SDK Record costs hundreds of nanoseconds (a mutex, a map lookup, an
// exemplar offer), an atomicHistogram a few atomic adds.
type durationHistogram struct {
	sdk         metric.Float64Histogram
	name        string
	unit        string
	description string
	fast        *fastPath // shared by the Instrumentation's histograms
}

// series is one attribute set of a durationHistogram, built once.
type series struct {
	hist *durationHistogram
	set  attribute.Set
	opts []metric.RecordOption
	fast *atomicHistogram // nil without a Producer
}

// newSeries makes the series of h with set, registered for production
// when the Instrumentation has a Producer.
func (h *durationHistogram) newSeries(set attribute.Set) *series {
	s := &series{hist: h, set: set, opts: []metric.RecordOption{metric.WithAttributeSet(set)}}
	if h.fast != nil {
		s.fast = newAtomicHistogram(h.fast.bounds, h.fast.boundsNs)
		h.fast.add(s)
	}
	return s
}

// record records one duration. shard spreads concurrent recordings over
// the histogram's shards (a connection's number).
func (s *series) record(ctx context.Context, d time.Duration, shard uint32) {
	if s.fast != nil && s.hist.fast.active.Load() {
		s.fast.record(d, shard)
		return
	}
	s.hist.sdk.Record(ctx, d.Seconds(), s.opts...)
}

// numShards spreads one series over several cache lines, so that commands
// on different cores rarely update the same counters.
const numShards = 4

// atomicHistogram is a fixed-bucket histogram of durations that any number
// of goroutines update with atomic adds, without a lock: explicit buckets
// with the SDK's semantics (a bucket holds values up to and including its
// upper bound), the sum in nanoseconds, min and max.
type atomicHistogram struct {
	bounds   []float64 // seconds, shared
	boundsNs []int64   // the same bounds as durations: see boundsInNs
	shards   [numShards]histShard
}

type histShard struct {
	counts []atomic.Uint64 // len(bounds)+1
	sumNs  atomic.Int64
	minNs  atomic.Int64 // math.MaxInt64 while empty
	maxNs  atomic.Int64
	_      [80]byte // 128 bytes a shard: two cache lines, none shared with the next shard
}

func newAtomicHistogram(bounds []float64, boundsNs []int64) *atomicHistogram {
	h := &atomicHistogram{bounds: bounds, boundsNs: boundsNs}
	for i := range h.shards {
		h.shards[i].counts = make([]atomic.Uint64, len(bounds)+1)
		h.shards[i].minNs.Store(math.MaxInt64)
		h.shards[i].maxNs.Store(math.MinInt64)
	}
	return h
}

func (h *atomicHistogram) record(d time.Duration, shard uint32) {
	d = max(d, 0)
	s := &h.shards[shard%numShards]
	s.counts[bucketOf(h.boundsNs, int64(d))].Add(1)
	s.sumNs.Add(int64(d))
	for v := s.minNs.Load(); int64(d) < v && !s.minNs.CompareAndSwap(v, int64(d)); v = s.minNs.Load() {
	}
	for v := s.maxNs.Load(); int64(d) > v && !s.maxNs.CompareAndSwap(v, int64(d)); v = s.maxNs.Load() {
	}
}

// bucketOf is the index of the bucket that holds a duration of ns. Redis
// latencies fall in the first few buckets, so a linear scan from the bottom
// beats a binary search.
func bucketOf(boundsNs []int64, ns int64) int {
	for i, b := range boundsNs {
		if ns <= b {
			return i
		}
	}
	return len(boundsNs)
}

// boundsInNs turns bucket bounds in seconds into the longest duration each
// bucket holds: d <= boundsInNs(b)[i] exactly when d.Seconds() <= b[i], the
// SDK's test, without converting every measurement to a float.
func boundsInNs(bounds []float64) []int64 {
	out := make([]int64, len(bounds))
	for i, b := range bounds {
		ns := int64(max(min(math.Floor(b*1e9), math.MaxInt64/2), math.MinInt64/2))
		for time.Duration(ns+1).Seconds() <= b {
			ns++
		}
		for time.Duration(ns).Seconds() > b {
			ns--
		}
		out[i] = ns
	}
	return out
}

// histSnapshot is an atomicHistogram's content at one moment.
type histSnapshot struct {
	counts       []uint64
	count        uint64
	sum          time.Duration
	minNs, maxNs int64
}

func (h *atomicHistogram) snapshot() histSnapshot {
	out := histSnapshot{counts: make([]uint64, len(h.bounds)+1), minNs: math.MaxInt64, maxNs: math.MinInt64}
	for i := range h.shards {
		s := &h.shards[i]
		for b := range s.counts {
			n := s.counts[b].Load()
			out.counts[b] += n
			out.count += n
		}
		out.sum += time.Duration(s.sumNs.Load())
		out.minNs = min(out.minNs, s.minNs.Load())
		out.maxNs = max(out.maxNs, s.maxNs.Load())
	}
	return out
}
