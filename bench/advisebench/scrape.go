package advisebench

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/advise"
)

// scrape is one collection of the master pool's metrics: what Prometheus
// would store at one scrape, plus the server's CPU time from INFO, as
// Prometheus would store it from a Redis exporter.
type scrape struct {
	advise.Sample
	used, pending float64
	// demandMax is redis.client.connection.demand.max: the most callers
	// holding or waiting for a connection at once since the last scrape.
	demandMax float64
}

const poolNameKey = attribute.Key("db.client.connection.pool.name")

// collect reads the reader and the server's INFO cpu once and keeps the
// named pool's figures.
func collect(ctx context.Context, r *sdkmetric.ManualReader, server *redis.Client, pool string) (scrape, error) {
	var rm metricdata.ResourceMetrics
	s := scrape{Sample: advise.Sample{At: time.Now()}}
	if err := r.Collect(ctx, &rm); err != nil {
		return s, err
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s.add(m, pool)
		}
	}
	cpu, err := serverCPU(ctx, server)
	s.ServerCPU = cpu
	return s, err
}

func ofPool(set attribute.Set, pool string) bool {
	v, ok := set.Value(poolNameKey)
	return ok && v.AsString() == pool
}

func (s *scrape) add(m metricdata.Metrics, pool string) {
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if ofPool(p.Attributes, pool) {
				s.addHistogram(m.Name, p.Sum, p.Count, cumulative(p.Bounds, p.BucketCounts))
			}
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			if ofPool(p.Attributes, pool) {
				s.addHistogram(m.Name, float64(p.Sum), p.Count, cumulative(p.Bounds, p.BucketCounts))
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if m.Name == "redis.client.connection.demand.max" && ofPool(p.Attributes, pool) {
				s.demandMax = math.Max(s.demandMax, float64(p.Value))
			}
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if ofPool(p.Attributes, pool) {
				s.addCount(m.Name, p.Attributes, float64(p.Value))
			}
		}
	}
}

func (s *scrape) addHistogram(name string, sum float64, count uint64, h advise.Histogram) {
	switch name {
	case "db.client.connection.use_time":
		s.UseSum, s.UseCount, s.Use = s.UseSum+sum, s.UseCount+float64(count), s.Use.Plus(h)
	case "db.client.connection.wait_time":
		s.WaitSum, s.Wait = s.WaitSum+sum, h
	case "redis.client.connection.demand":
		s.Demand = h
	}
}

func (s *scrape) addCount(name string, set attribute.Set, v float64) {
	state, _ := set.Value("db.client.connection.state")
	kind, _ := set.Value("redis.client.connection.kind")
	switch {
	case name == "db.client.connection.count" && state.AsString() == "used" && kind.AsString() != "pubsub":
		s.used += v
	case name == "db.client.connection.pending_requests":
		s.pending += v
	}
}

// cumulative turns OTel's per-bucket counts into Prometheus's cumulative
// buckets (the last one +Inf).
func cumulative(bounds []float64, counts []uint64) advise.Histogram {
	h := advise.Histogram{Bounds: append(append([]float64(nil), bounds...), math.Inf(1)), Counts: make([]float64, len(counts))}
	total := 0.0
	for i, c := range counts {
		total += float64(c)
		h.Counts[i] = total
	}
	if len(h.Counts) != len(h.Bounds) {
		return advise.Histogram{}
	}
	return h
}

// serverCPU is the seconds of CPU the server's main thread has used (INFO
// cpu used_cpu_sys_main_thread + used_cpu_user_main_thread, Redis 6.2 and
// later): the figures `poolscope advise` reads from the agent, and no
// other (the whole process's CPU would count its background threads).
func serverCPU(ctx context.Context, server *redis.Client) (float64, error) {
	info, err := server.Info(ctx, "cpu").Result()
	if err != nil {
		return math.NaN(), fmt.Errorf("advisebench: INFO cpu: %w", err)
	}
	fields := map[string]float64{}
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if f, err := strconv.ParseFloat(v, 64); ok && err == nil {
			fields[k] = f
		}
	}
	sys, okSys := fields["used_cpu_sys_main_thread"]
	user, okUser := fields["used_cpu_user_main_thread"]
	if !okSys || !okUser {
		return math.NaN(), fmt.Errorf("advisebench: INFO cpu has no used_cpu_sys_main_thread/used_cpu_user_main_thread (Redis 6.2 or newer needed): %q", info)
	}
	return sys + user, nil
}
