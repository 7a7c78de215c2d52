package exporters

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/poolscope/poolscope/internal/latency"
)

// collect builds a pipeline whose only reader is a ManualReader and returns
// a meter and a function that collects what was recorded.
func collect(t *testing.T, opts ...Option) (metric.Meter, func() metricdata.ResourceMetrics) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	opts = append([]Option{env(map[string]string{"OTEL_METRICS_EXPORTER": "none"}), WithReader(reader)}, opts...)
	p, err := New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, p)
	return p.MeterProvider().Meter("test"), func() metricdata.ResourceMetrics {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		return rm
	}
}

func metricNamed(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

func TestLatencyViewAppliesToSecondsHistograms(t *testing.T) {
	meter, collectNow := collect(t)
	pool := attribute.NewSet(attribute.String("db.client.connection.pool.name", "master"))

	wait, err := meter.Float64Histogram("db.client.connection.wait_time", metric.WithUnit("s"), metric.WithDescription("wait"))
	if err != nil {
		t.Fatal(err)
	}
	wait.Record(context.Background(), 0.000015, metric.WithAttributeSet(pool))

	advised, err := meter.Float64Histogram("db.client.connection.use_time", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(1, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	advised.Record(context.Background(), 0.5)

	millis, err := meter.Float64Histogram("legacy.use_time", metric.WithUnit("ms"))
	if err != nil {
		t.Fatal(err)
	}
	millis.Record(context.Background(), 3)

	rm := collectNow()

	counts := make([]uint64, len(latency.Boundaries)+1)
	counts[1] = 1 // (1e-05, 2e-05]
	want := metricdata.Metrics{
		Name:        "db.client.connection.wait_time",
		Description: "wait",
		Unit:        "s",
		Data: metricdata.Histogram[float64]{
			Temporality: metricdata.CumulativeTemporality,
			DataPoints: []metricdata.HistogramDataPoint[float64]{{
				Attributes:   pool,
				Count:        1,
				Bounds:       latency.Boundaries,
				BucketCounts: counts,
				Min:          metricdata.NewExtrema(0.000015),
				Max:          metricdata.NewExtrema(0.000015),
				Sum:          0.000015,
			}},
		},
	}
	metricdatatest.AssertEqual(t, want, metricNamed(t, rm, "db.client.connection.wait_time"), metricdatatest.IgnoreTimestamp())

	tests := []struct {
		name       string
		wantLatest bool
	}{
		{"db.client.connection.use_time", true}, // the view overrides advice
		{"legacy.use_time", false},              // not seconds: SDK default buckets
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := metricNamed(t, rm, tt.name).Data.(metricdata.Histogram[float64])
			got := h.DataPoints[0].Bounds
			if slices.Equal(got, latency.Boundaries) != tt.wantLatest {
				t.Errorf("bounds = %v; latency.Boundaries expected: %v", got, tt.wantLatest)
			}
		})
	}
}

func TestLatencyViewOnItsOwn(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(LatencyView()))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	h, err := mp.Meter("test").Int64Histogram("x.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	h.Record(context.Background(), 1)
	c, err := mp.Meter("test").Float64Counter("x.total_time", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 1)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	hist, ok := metricNamed(t, rm, "x.duration").Data.(metricdata.Histogram[int64])
	if !ok || !slices.Equal(hist.DataPoints[0].Bounds, latency.Boundaries) {
		t.Errorf("int64 histogram in seconds: %#v", metricNamed(t, rm, "x.duration").Data)
	}
	if _, ok := metricNamed(t, rm, "x.total_time").Data.(metricdata.Sum[float64]); !ok {
		t.Errorf("a counter in seconds is no longer a sum: %#v", metricNamed(t, rm, "x.total_time").Data)
	}
}
