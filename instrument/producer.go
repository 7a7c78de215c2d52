package instrument

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ErrProducerMissing is passed to otel.Handle when an Instrumentation given
// WithProducer finds that its MeterProvider's readers collect without
// calling the Producer: the Producer was not attached to every reader. The
// Instrumentation then records its durations through the SDK histograms,
// which every reader collects, after copying what it had recorded into
// them (bucket counts, count, min and max exact; the sum from the bucket
// midpoints), so no data is lost; only the hot path's cost goes back up.
var ErrProducerMissing = errors.New("instrument: the Producer given to WithProducer is not attached to every reader of the MeterProvider " +
	"(sdkmetric.WithProducer, or the Prometheus exporter's WithProducer); duration histograms now go through the SDK, at its cost per command")

// missingAfter is how many more collections than productions an
// Instrumentation tolerates before it decides a reader lacks its Producer.
// A production follows its collection's callback, and readers may collect
// at the same time: a few in flight are normal, a growing gap is not.
const missingAfter = 4

// Producer exports the duration histograms of every Instrumentation given
// WithProducer(p), as standard OpenTelemetry explicit-bucket histograms
// (cumulative) with the same names, units, buckets and attributes as the
// SDK instruments they replace. Attach it to every reader of the
// MeterProvider, since the OpenTelemetry Go SDK has no asynchronous
// histogram (a Producer is a reader option):
//
//	producer := instrument.NewProducer()
//	reader := sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(producer))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	i, err := instrument.New(p, instrument.WithMeterProvider(mp), instrument.WithProducer(producer))
//
// With it, a histogram measurement costs a few atomic adds instead of an
// SDK Record (a mutex, a map lookup, an exemplar offer: hundreds of
// nanoseconds, several per command). Its histograms carry no exemplars.
// An Instrumentation whose readers collect without calling the Producer
// reports ErrProducerMissing and falls back to the SDK, losing nothing.
type Producer struct {
	mu      sync.Mutex
	sources []*fastPath
}

// NewProducer returns a Producer for one MeterProvider's readers.
func NewProducer() *Producer { return &Producer{} }

func (p *Producer) add(f *fastPath) {
	p.mu.Lock()
	p.sources = append(p.sources, f)
	p.mu.Unlock()
}

// Produce returns the histograms of every Instrumentation attached to p,
// closed ones included (their cumulative data stays, as SDK instruments'
// does). It implements go.opentelemetry.io/otel/sdk/metric.Producer.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	sources := slices.Clone(p.sources)
	p.mu.Unlock()
	now := time.Now()
	var metrics []metricdata.Metrics
	index := map[string]int{}
	for _, f := range sources {
		f.produced.Add(1)
		if !f.active.Load() {
			continue
		}
		for _, s := range f.allSeries() {
			dp, ok := s.dataPoint(f.start, now)
			if !ok {
				continue
			}
			h := s.hist
			k, seen := index[h.name]
			if !seen {
				k = len(metrics)
				index[h.name] = k
				metrics = append(metrics, metricdata.Metrics{Name: h.name, Description: h.description, Unit: h.unit,
					Data: metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}})
			}
			data := metrics[k].Data.(metricdata.Histogram[float64])
			data.DataPoints = append(data.DataPoints, dp)
			metrics[k].Data = data
		}
	}
	if len(metrics) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: ScopeName, Version: Version}, Metrics: metrics}}, nil
}

// dataPoint is the series' cumulative data point; false while empty.
func (s *series) dataPoint(start, now time.Time) (metricdata.HistogramDataPoint[float64], bool) {
	snap := s.h.snapshot()
	if snap.count == 0 {
		return metricdata.HistogramDataPoint[float64]{}, false
	}
	h := s.hist
	return metricdata.HistogramDataPoint[float64]{
		Attributes:   s.set,
		StartTime:    start,
		Time:         now,
		Count:        snap.count,
		Bounds:       slices.Clone(h.bounds),
		BucketCounts: snap.counts,
		Min:          metricdata.NewExtrema(h.value(snap.min)),
		Max:          metricdata.NewExtrema(h.value(snap.max)),
		Sum:          h.value(snap.sum),
	}, true
}

// fastPath is one Instrumentation's side of a Producer: the series it
// exports, and whether they are still exported that way.
type fastPath struct {
	producer *Producer
	start    time.Time
	// active: measurements go to the atomic histograms; false once the
	// Instrumentation fell back to the SDK.
	active atomic.Bool
	// callbacks counts the Instrumentation's collections (one per reader
	// per collection), produced the Producer's productions.
	callbacks, produced atomic.Uint64

	mu     sync.Mutex
	series []*series
	// replayed holds, after a fall-back, each series' bucket counts
	// already copied into the SDK.
	replayed map[*series][]uint64
}

func newFastPath(p *Producer) *fastPath {
	f := &fastPath{producer: p, start: time.Now()}
	f.active.Store(true)
	p.add(f)
	return f
}

func (f *fastPath) add(s *series) {
	f.mu.Lock()
	f.series = append(f.series, s)
	f.mu.Unlock()
}

func (f *fastPath) allSeries() []*series {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.series)
}

// collected runs in every collection's callback: it falls back to the SDK
// when the collections outrun the productions (a reader without the
// Producer), and after a fall-back copies what was recorded in the atomic
// histograms while the switch was under way.
func (f *fastPath) collected(ctx context.Context) {
	if f == nil {
		return
	}
	if n := f.callbacks.Add(1); f.active.Load() && n > f.produced.Load()+missingAfter {
		f.fallBack(ctx)
		otel.Handle(ErrProducerMissing)
		return
	}
	if !f.active.Load() {
		f.replay(ctx)
	}
}

// fallBack sends every later measurement to the SDK histograms and copies
// the atomic histograms into them.
func (f *fastPath) fallBack(ctx context.Context) {
	f.active.Store(false)
	f.replay(ctx)
}

// replay copies into the SDK histograms what the atomic histograms hold
// beyond what was copied before.
func (f *fastPath) replay(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replayed == nil {
		f.replayed = map[*series][]uint64{}
	}
	for _, s := range f.series {
		done := f.replayed[s]
		if done == nil {
			done = make([]uint64, len(s.hist.bounds)+1)
			f.replayed[s] = done
		}
		s.replay(ctx, done)
	}
}

// replay records into the SDK instrument one value per measurement the
// atomic histogram holds beyond done (updated): in its bucket, so that
// counts and buckets are exact; the smallest and largest values exactly on
// the first copy; the others at their bucket's midpoint.
func (s *series) replay(ctx context.Context, done []uint64) {
	snap := s.h.snapshot()
	first := !slices.ContainsFunc(done, func(n uint64) bool { return n > 0 })
	minV, maxV := s.hist.value(snap.min), s.hist.value(snap.max)
	bounds := s.hist.bounds
	for b := range snap.counts {
		n := snap.counts[b] - done[b]
		done[b] = snap.counts[b]
		if n == 0 {
			continue
		}
		lo, hi := math.Inf(-1), math.Inf(1)
		if b > 0 {
			lo = bounds[b-1]
		}
		if b < len(bounds) {
			hi = bounds[b]
		}
		if first {
			for _, v := range []float64{minV, maxV} {
				if n > 0 && v > lo && v <= hi {
					s.hist.sdk.Record(ctx, v, s.opts...)
					n--
				}
			}
		}
		mid := (max(lo, minV) + min(hi, maxV)) / 2
		for range n {
			s.hist.sdk.Record(ctx, mid, s.opts...)
		}
	}
}
