package advisebench

import (
	"context"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/advise"
)

// scrape is one collection of the master pool's metrics: what Prometheus
// would store at one scrape.
type scrape struct {
	at                        time.Time
	useSum, useCount, waitSum float64
	used, pending             float64
	// demandMax is redis.client.connection.demand.max: the most callers
	// holding or waiting for a connection at once since the last scrape.
	demandMax float64
	wait      histogram
}

// histogram is a cumulative bucketed histogram (upper bounds, counts per
// bucket, the last one +Inf).
type histogram struct {
	bounds []float64
	counts []uint64
}

const poolNameKey = attribute.Key("db.client.connection.pool.name")

// collect reads the reader once and keeps the named pool's figures.
func collect(ctx context.Context, r *sdkmetric.ManualReader, pool string) (scrape, error) {
	var rm metricdata.ResourceMetrics
	s := scrape{at: time.Now()}
	if err := r.Collect(ctx, &rm); err != nil {
		return s, err
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s.add(m, pool)
		}
	}
	return s, nil
}

func (s *scrape) add(m metricdata.Metrics, pool string) {
	ofPool := func(set attribute.Set) bool {
		v, ok := set.Value(poolNameKey)
		return ok && v.AsString() == pool
	}
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if !ofPool(p.Attributes) {
				continue
			}
			switch m.Name {
			case "db.client.connection.use_time":
				s.useSum, s.useCount = s.useSum+p.Sum, s.useCount+float64(p.Count)
			case "db.client.connection.wait_time":
				s.waitSum += p.Sum
				s.wait = histogram{bounds: p.Bounds, counts: p.BucketCounts}
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if m.Name == "redis.client.connection.demand.max" && ofPool(p.Attributes) {
				s.demandMax = math.Max(s.demandMax, float64(p.Value))
			}
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if !ofPool(p.Attributes) {
				continue
			}
			state, _ := p.Attributes.Value("db.client.connection.state")
			kind, _ := p.Attributes.Value("redis.client.connection.kind")
			switch {
			case m.Name == "db.client.connection.count" && state.AsString() == "used" && kind.AsString() != "pubsub":
				s.used += float64(p.Value)
			case m.Name == "db.client.connection.pending_requests":
				s.pending += float64(p.Value)
			}
		}
	}
}

// interval is Little's law between two scrapes, as the CLI's range
// queries compute it: rate(use_time sum), rate(wait_time sum), and
// use_time sum / count.
func interval(a, b scrape) advise.Interval {
	dt := b.at.Sub(a.at).Seconds()
	du, dc, dw := b.useSum-a.useSum, b.useCount-a.useCount, b.waitSum-a.waitSum
	iv := advise.Interval{InUse: du / dt, Waiting: dw / dt, Hold: math.NaN(), CommandLatency: math.NaN()}
	if dc > 0 {
		iv.Hold = du / dc
	}
	return iv
}

// minus is the histogram of what happened between earlier and h.
func (h histogram) minus(earlier histogram) histogram {
	out := histogram{bounds: h.bounds, counts: append([]uint64(nil), h.counts...)}
	if len(earlier.counts) == len(h.counts) {
		for i := range out.counts {
			out.counts[i] -= earlier.counts[i]
		}
	}
	return out
}

// quantile interpolates linearly inside the bucket, as Prometheus's
// histogram_quantile does (the first bucket starts at 0; a quantile in
// the +Inf bucket is the last finite bound). NaN for an empty histogram.
func (h histogram) quantile(q float64) float64 {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	var seen uint64
	for i, c := range h.counts {
		if float64(seen+c) < rank || c == 0 {
			seen += c
			continue
		}
		if i >= len(h.bounds) {
			return h.bounds[len(h.bounds)-1]
		}
		lo := 0.0
		if i > 0 {
			lo = h.bounds[i-1]
		}
		return lo + (h.bounds[i]-lo)*(rank-float64(seen))/float64(c)
	}
	return h.bounds[len(h.bounds)-1]
}
