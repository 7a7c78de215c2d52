package instrument_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// waitLong bounds every poll: generous, since the tests share two cores
// with other builds and run under -race.
const waitLong = 30 * time.Second

// reader is a ManualReader with its MeterProvider.
type reader struct {
	*sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
}

func newReader(t testing.TB) reader {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return reader{ManualReader: r, provider: mp}
}

// instrumentT calls instrument.New with the reader's provider and closes
// the Instrumentation at cleanup.
func (r reader) instrumentT(t testing.TB, p *pools.Pools, opts ...instrument.Option) *instrument.Instrumentation {
	t.Helper()
	i, err := instrument.New(p, append([]instrument.Option{instrument.WithMeterProvider(r.provider)}, opts...)...)
	if err != nil {
		t.Fatalf("instrument.New: %v", err)
	}
	t.Cleanup(func() { _ = i.Close() })
	return i
}

// instrumentClientT is instrumentT for instrument.NewClient.
func (r reader) instrumentClientT(t testing.TB, c redis.UniversalClient, opts ...instrument.ClientOption) *instrument.Instrumentation {
	t.Helper()
	i, err := instrument.NewClient(c, append([]instrument.ClientOption{instrument.WithMeterProvider(r.provider)}, opts...)...)
	if err != nil {
		t.Fatalf("instrument.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = i.Close() })
	return i
}

// snapshot is one collection.
type snapshot struct{ rm metricdata.ResourceMetrics }

func (r reader) collect(t testing.TB) snapshot {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	return snapshot{rm}
}

func (s snapshot) metric(name string) (metricdata.Metrics, bool) {
	for _, sm := range s.rm.ScopeMetrics {
		if sm.Scope.Name != instrument.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

func matches(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// int64 sums the points of an int64 sum or gauge that carry every attribute
// of want; ok is false when none does.
func (s snapshot) int64(name string, want ...attribute.KeyValue) (total int64, ok bool) {
	m, found := s.metric(name)
	if !found {
		return 0, false
	}
	var points []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		points = d.DataPoints
	case metricdata.Gauge[int64]:
		points = d.DataPoints
	}
	for _, p := range points {
		if matches(p.Attributes, want) {
			total += p.Value
			ok = true
		}
	}
	return total, ok
}

// hist sums the points of a float64 histogram that carry want; min and max
// are the smallest and largest recorded values.
type histStats struct {
	count    uint64
	sum      float64
	min, max float64
}

func (s snapshot) hist(name string, want ...attribute.KeyValue) (h histStats, ok bool) {
	m, found := s.metric(name)
	if !found {
		return h, false
	}
	d, _ := m.Data.(metricdata.Histogram[float64])
	for _, p := range d.DataPoints {
		if !matches(p.Attributes, want) {
			continue
		}
		if v, defined := p.Min.Value(); defined && (!ok || v < h.min) {
			h.min = v
		}
		if v, defined := p.Max.Value(); defined && (!ok || v > h.max) {
			h.max = v
		}
		h.count += p.Count
		h.sum += p.Sum
		ok = true
	}
	return h, ok
}

// poolNames lists the pool names a metric reports.
func (s snapshot) poolNames(name string) []string {
	m, _ := s.metric(name)
	seen := map[string]bool{}
	add := func(set attribute.Set) {
		if v, ok := set.Value("db.client.connection.pool.name"); ok {
			seen[v.AsString()] = true
		}
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

func pool(name string) attribute.KeyValue {
	return attribute.String("db.client.connection.pool.name", name)
}

func reason(r string) attribute.KeyValue { return attribute.String("reason", r) }

func state(s, kind string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("db.client.connection.state", s),
		attribute.String("redis.client.connection.kind", kind),
	}
}

// openPools opens pools on srv through LoadConfig, with env on top of a
// base that points every role at srv and dials nothing ahead.
func openPools(t testing.TB, srv *redisserver.Server, env map[string]string) *pools.Pools {
	t.Helper()
	vars := map[string]string{
		"REDIS_MASTER_URL":     srv.URL(),
		"REDIS_LOCAL_URL":      srv.URL(),
		"REDIS_ASYNC_POOL_MIN": "0",
		"OTEL_SERVICE_NAME":    "instrument-test",
	}
	maps.Copy(vars, env)
	cfg, err := pools.LoadConfig(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("pools.LoadConfig: %v", err)
	}
	p, err := pools.New(cfg, pools.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("pools.New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// eventually polls cond against fresh collections.
func (r reader) eventually(t testing.TB, cond func(s snapshot) error) snapshot {
	t.Helper()
	var last snapshot
	redistest.Eventually(t, waitLong, func() error {
		last = r.collect(t)
		return cond(last)
	})
	return last
}

// atLeast is a cond helper: the int64 metric with want reaches n.
func atLeast(name string, n int64, want ...attribute.KeyValue) func(snapshot) error {
	return func(s snapshot) error {
		if v, _ := s.int64(name, want...); v < n {
			return fmt.Errorf("%s%s = %d, want >= %d", name, attrString(want), v, n)
		}
		return nil
	}
}

func attrString(kvs []attribute.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = string(kv.Key) + "=" + kv.Value.Emit()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func attributeString(k, v string) attribute.KeyValue  { return attribute.String(k, v) }
func attributeInt(k string, v int) attribute.KeyValue { return attribute.Int(k, v) }
