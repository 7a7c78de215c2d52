package instrument

import (
	"context"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// histogram is one of poolscope's histograms: the durations (create, wait
// and use time, lifetime, health-check and command duration) and the
// demand each caller finds. A measurement goes to the SDK instrument, or,
// when a Producer exports the Instrumentation (WithProducer), to the
// series' own lock-free histogram: an SDK Record costs hundreds of
// nanoseconds (a mutex, a map lookup, an exemplar offer), an
// atomicHistogram two atomic adds.
//
// Measurements are integers: nanoseconds for a duration (exported in
// seconds), connections for the demand.
type histogram struct {
	sdk         metric.Float64Histogram
	name        string
	unit        string
	description string
	fast        *fastPath // shared by the Instrumentation's histograms
	bounds      []float64 // the bucket bounds, in the exported unit
	limits      []int64   // the largest measurement each bucket holds: see limitsOf
	seconds     bool      // measurements are nanoseconds, exported in seconds
}

// value is a measurement in the exported unit.
func (h *histogram) value(v int64) float64 {
	if h.seconds {
		return time.Duration(v).Seconds()
	}
	return float64(v)
}

// series is one attribute set of a durationHistogram, built once.
type series struct {
	// What a measurement reads, on the series' first cache line (a
	// series, 120 bytes, is in Go's 128-byte size class, whose objects
	// start on 128-byte boundaries): the Producer's switch and the
	// lock-free histogram's header (64 bytes together).
	active *atomic.Bool    // the Instrumentation's fastPath.active; nil without a Producer
	h      atomicHistogram // used with a Producer only

	hist *histogram
	set  attribute.Set
	opts []metric.RecordOption
}

// newSeries makes the series of h with set, registered for production
// when the Instrumentation has a Producer.
func (h *histogram) newSeries(set attribute.Set) *series {
	s := &series{hist: h, set: set, opts: []metric.RecordOption{metric.WithAttributeSet(set)}}
	if h.fast != nil {
		s.h.init(h.limits)
		s.active = &h.fast.active
		h.fast.add(s)
	}
	return s
}

// record records one duration. shard spreads concurrent recordings over
// the histogram's shards (a connection's number).
func (s *series) record(ctx context.Context, d time.Duration, shard uint32) {
	s.recordValue(ctx, int64(d), shard)
}

// recordValue records one measurement in the histogram's integer unit.
func (s *series) recordValue(ctx context.Context, v int64, shard uint32) {
	if s.active != nil && s.active.Load() {
		s.h.record(v, shard)
		return
	}
	s.hist.sdk.Record(ctx, s.hist.value(v), s.opts...)
}

// numShards spreads one series over several cache lines, so that commands
// on different cores rarely update the same counters.
const numShards = 4

// atomicHistogram is a fixed-bucket histogram of non-negative integers that
// any number of goroutines update with atomic adds, without a lock:
// explicit buckets with the SDK's semantics (a bucket holds values up to
// and including its upper bound), the sum, min and max.
//
// Its shards live in one allocation, each on cache lines of its own: the
// sum, min and max first, then the bucket counts. A measurement lands in
// one of the first buckets (Redis is fast), so it updates one line of its
// shard, two at most, and reads the limits, which every duration
// histogram of an Instrumentation shares (one line for the first eight).
// A command's recorder calls run between go-redis's syscalls, which evict
// the core's caches: every line a command touches is a likely cache miss.
type atomicHistogram struct {
	limits []int64 // shared with the histogram: see limitsOf
	base   int     // the first shard's first word, at the start of a cache line
	words  []atomic.Int64
}

// The words of a shard: sum, min (math.MaxInt64 while empty), max, then
// the counts (as int64: a count cannot reach 2^63).
const (
	wordSum = iota
	wordMin
	wordMax
	wordCounts
)

// lineWords is a cache line's worth of words.
const lineWords = 8

func newAtomicHistogram(limits []int64) *atomicHistogram {
	h := &atomicHistogram{}
	h.init(limits)
	return h
}

// init lays out h: the shards start on a line boundary (Go's heap
// objects never move), with a line of padding on either side: the
// allocation's neighbours may be written by other cores.
func (h *atomicHistogram) init(limits []int64) {
	h.limits = limits
	h.words = make([]atomic.Int64, 3*lineWords+numShards*h.stride())
	misaligned := int(uintptr(unsafe.Pointer(&h.words[0])) % (lineWords * 8) / 8)
	h.base = (lineWords-misaligned)%lineWords + lineWords
	for i := range numShards {
		h.shard(uint32(i))[wordMin].Store(math.MaxInt64)
		h.shard(uint32(i))[wordMax].Store(math.MinInt64)
	}
}

// shard returns the words of shard n % numShards.
func (h *atomicHistogram) shard(n uint32) []atomic.Int64 {
	stride := h.stride()
	at := h.base + int(n%numShards)*stride
	return h.words[at : at+stride]
}

// stride is the words of a shard: a whole number of cache lines.
func (h *atomicHistogram) stride() int {
	return (wordCounts + len(h.limits) + 1 + lineWords - 1) / lineWords * lineWords
}

func (h *atomicHistogram) record(v int64, shard uint32) {
	v = max(v, 0)
	s := h.shard(shard)
	s[wordCounts+bucketOf(h.limits, v)].Add(1)
	s[wordSum].Add(v)
	for m := s[wordMin].Load(); v < m && !s[wordMin].CompareAndSwap(m, v); m = s[wordMin].Load() {
	}
	raise(&s[wordMax], v)
}

// bucketOf is the index of the bucket that holds v. Redis latencies and
// demands fall in the first few buckets, so a linear scan from the bottom
// beats a binary search.
func bucketOf(limits []int64, v int64) int {
	for i, b := range limits {
		if v <= b {
			return i
		}
	}
	return len(limits)
}

// limitsOf turns bucket bounds into the largest measurement each bucket
// holds: for durations, the longest (see boundsInNs); for counts, the
// bound rounded down.
func limitsOf(bounds []float64, seconds bool) []int64 {
	if seconds {
		return boundsInNs(bounds)
	}
	out := make([]int64, len(bounds))
	for i, b := range bounds {
		out[i] = int64(max(min(math.Floor(b), math.MaxInt64/2), math.MinInt64/2))
	}
	return out
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
	counts        []uint64
	count         uint64
	sum, min, max int64
}

func (h *atomicHistogram) snapshot() histSnapshot {
	out := histSnapshot{counts: make([]uint64, len(h.limits)+1), min: math.MaxInt64, max: math.MinInt64}
	for i := range numShards {
		s := h.shard(uint32(i))
		for b := range out.counts {
			n := uint64(s[wordCounts+b].Load())
			out.counts[b] += n
			out.count += n
		}
		out.sum += s[wordSum].Load()
		out.min = min(out.min, s[wordMin].Load())
		out.max = max(out.max, s[wordMax].Load())
	}
	return out
}
