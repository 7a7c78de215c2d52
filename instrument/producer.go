package instrument

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
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
	// retired holds the last data of the series of closed
	// Instrumentations, one point per series, folded in by Produce (see
	// retire): a program that re-creates its Instrumentations keeps
	// exporting every series once, cumulatively, without keeping each
	// closed Instrumentation's histograms.
	retired map[pointKey]retiredPoint
	// conflicts are the series already reported to otel.Handle for
	// bounds that do not match (see production.add).
	conflicts map[pointKey]bool
}

// retireAfter is how long after Close an Instrumentation's histograms are
// folded into the Producer's retired points: a recorder call that found
// the pool open just before Close may still be adding to them.
var retireAfter = time.Second

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
//
// Series of one histogram with the same attributes are one data point, as
// the SDK makes them of one instrument's measurements: two Instrumentations
// of pools with the same name and server (two *pools.Pools of one program,
// or one closed and its successor) record into one cumulative series. An
// exporter must not see a series twice: Prometheus's refuses the whole
// scrape.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	sources, retired := p.retire(now)
	out := production{byName: map[string]int{}, points: map[pointKey]int{}}
	for _, r := range retired {
		out.add(p, r.meta, r.set, r.point)
	}
	for _, f := range sources {
		f.produced.Add(1)
		if !f.active.Load() {
			continue
		}
		for _, s := range f.allSeries() {
			if dp, ok := s.dataPoint(f.start, now); ok {
				out.add(p, s.hist.meta(), s.set, dp)
			}
		}
	}
	if len(out.metrics) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: ScopeName, Version: Version}, Metrics: out.metrics}}, nil
}

// retire folds the histograms of the Instrumentations closed more than
// retireAfter ago into p.retired and drops them from p.sources, and
// returns the sources left and a copy of the retired points for a
// production at now (a concurrent Produce may fold into p.retired while
// this one merges into its copies). An Instrumentation that fell back to
// the SDK has nothing in the Producer to fold.
func (p *Producer) retire(now time.Time) ([]*fastPath, []retiredPoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sources = slices.DeleteFunc(p.sources, func(f *fastPath) bool {
		closed := f.closedAt.Load()
		if closed == nil || now.Sub(*closed) < retireAfter {
			return false
		}
		if f.active.Load() {
			for _, s := range f.allSeries() {
				p.fold(s, f.start, now)
			}
		}
		return true
	})
	retired := make([]retiredPoint, 0, len(p.retired))
	for _, r := range p.retired {
		retired = append(retired, retiredPoint{meta: r.meta, set: r.set, point: r.pointAt(now)})
	}
	return slices.Clone(p.sources), retired
}

// fold adds s's data to its retired point. The caller holds p.mu.
func (p *Producer) fold(s *series, start, now time.Time) {
	dp, ok := s.dataPoint(start, now)
	if !ok {
		return
	}
	if p.retired == nil {
		p.retired = map[pointKey]retiredPoint{}
	}
	k := pointKey{s.hist.name, s.set.Equivalent()}
	r, seen := p.retired[k]
	if !seen {
		p.retired[k] = retiredPoint{meta: s.hist.meta(), set: s.set, point: dp}
		return
	}
	if !slices.Equal(r.point.Bounds, dp.Bounds) {
		p.reportConflict(k, s.set)
		return
	}
	merge(&r.point, dp)
	p.retired[k] = r
}

// retiredPoint is the last data of a series of closed Instrumentations.
// It keeps nothing of theirs but copies: a reference to their histogram
// would keep every series of theirs.
type retiredPoint struct {
	meta  histMeta
	set   attribute.Set
	point metricdata.HistogramDataPoint[float64]
}

// histMeta is what an exported histogram is named and described by.
type histMeta struct{ name, unit, description string }

func (h *histogram) meta() histMeta { return histMeta{h.name, h.unit, h.description} }

// pointAt is a copy of the point, for a production at now: the copy is
// merged into and handed to an exporter, the retired point stays as it is.
func (r retiredPoint) pointAt(now time.Time) metricdata.HistogramDataPoint[float64] {
	dp := r.point
	dp.Time = now
	dp.Bounds = slices.Clone(dp.Bounds)
	dp.BucketCounts = slices.Clone(dp.BucketCounts)
	return dp
}

// pointKey names one series: a histogram and an attribute set.
type pointKey struct {
	name string
	set  attribute.Distinct
}

// production is one Produce's output, one data point per series.
type production struct {
	metrics []metricdata.Metrics
	byName  map[string]int   // index in metrics
	points  map[pointKey]int // index in its metric's data points
}

// add adds dp, the data of h's series set, merged into the point of the
// same series when one is there already. Points of one series with other
// bounds (Instrumentations given other WithHistogramBoundaries) cannot be
// merged: the first is kept and the conflict reported once.
func (out *production) add(p *Producer, h histMeta, set attribute.Set, dp metricdata.HistogramDataPoint[float64]) {
	k, seen := out.byName[h.name]
	if !seen {
		k = len(out.metrics)
		out.byName[h.name] = k
		out.metrics = append(out.metrics, metricdata.Metrics{Name: h.name, Description: h.description, Unit: h.unit,
			Data: metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}})
	}
	data := out.metrics[k].Data.(metricdata.Histogram[float64])
	key := pointKey{h.name, set.Equivalent()}
	if j, seen := out.points[key]; seen {
		if !slices.Equal(data.DataPoints[j].Bounds, dp.Bounds) {
			p.mu.Lock()
			p.reportConflict(key, set)
			p.mu.Unlock()
			return
		}
		merge(&data.DataPoints[j], dp)
		return
	}
	out.points[key] = len(data.DataPoints)
	data.DataPoints = append(data.DataPoints, dp)
	out.metrics[k].Data = data
}

// reportConflict hands a bounds conflict to otel.Handle, once per series.
// The caller holds p.mu.
func (p *Producer) reportConflict(k pointKey, set attribute.Set) {
	if p.conflicts[k] {
		return
	}
	if p.conflicts == nil {
		p.conflicts = map[pointKey]bool{}
	}
	p.conflicts[k] = true
	otel.Handle(fmt.Errorf("instrument: %s {%s} is recorded by two Instrumentations on one Producer with different bucket bounds (WithHistogramBoundaries); only the first one's data is exported",
		k.name, set.Encoded(attribute.DefaultEncoder())))
}

// merge adds dp to into: two parts of one cumulative series.
func merge(into *metricdata.HistogramDataPoint[float64], dp metricdata.HistogramDataPoint[float64]) {
	if dp.StartTime.Before(into.StartTime) {
		into.StartTime = dp.StartTime
	}
	into.Count += dp.Count
	into.Sum += dp.Sum
	for b, n := range dp.BucketCounts {
		into.BucketCounts[b] += n
	}
	into.Min = extremum(into.Min, dp.Min, math.Min)
	into.Max = extremum(into.Max, dp.Max, math.Max)
}

func extremum(a, b metricdata.Extrema[float64], pick func(x, y float64) float64) metricdata.Extrema[float64] {
	av, aok := a.Value()
	bv, bok := b.Value()
	switch {
	case !aok:
		return b
	case !bok:
		return a
	}
	return metricdata.NewExtrema(pick(av, bv))
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
	// closedAt is when the Instrumentation was closed; nil while open.
	closedAt atomic.Pointer[time.Time]

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

// close marks the Instrumentation closed: the Producer folds its
// histograms into its retired points once retireAfter has passed.
func (f *fastPath) close() {
	if f != nil {
		now := time.Now()
		f.closedAt.CompareAndSwap(nil, &now)
	}
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
