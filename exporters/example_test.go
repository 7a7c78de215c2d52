package exporters_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/poolscope/poolscope/exporters"
)

// The environment comes from a map here; in production leave WithLookup out
// and New reads the process environment. A ManualReader stands in for the
// exporters, whose output is not deterministic.
func Example() {
	ctx := context.Background()
	vars := map[string]string{
		"OTEL_METRICS_EXPORTER": "none",
		"OTEL_SERVICE_NAME":     "checkout",
	}
	reader := sdkmetric.NewManualReader()
	p, err := exporters.New(ctx,
		exporters.WithLookup(func(key string) (string, bool) {
			v, ok := vars[key]
			return v, ok
		}),
		exporters.WithReader(reader),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := p.Shutdown(ctx); err != nil {
			log.Print(err)
		}
	}()

	wait, err := p.MeterProvider().Meter("example").Float64Histogram(
		"db.client.connection.wait_time", metric.WithUnit("s"))
	if err != nil {
		log.Fatal(err)
	}
	wait.Record(ctx, 0.00015) // 150 us

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	name, _ := rm.Resource.Set().Value(semconv.ServiceNameKey)
	point := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints[0]
	fmt.Println("service.name:", name.AsString())
	fmt.Println("exporters:", p.Exporters())
	fmt.Printf("%d buckets, from %g s to %g s\n", len(point.Bounds)+1, point.Bounds[0], point.Bounds[len(point.Bounds)-1])
	for i, n := range point.BucketCounts {
		if n > 0 {
			fmt.Printf("150 us is in (%g, %g]\n", point.Bounds[i-1], point.Bounds[i])
		}
	}
	// Output:
	// service.name: checkout
	// exporters: []
	// 20 buckets, from 1e-05 s to 10 s
	// 150 us is in (0.0001, 0.0002]
}

// A Prometheus pull endpoint on a port the system picks, as tests do; in
// production OTEL_EXPORTER_PROMETHEUS_HOST/PORT choose it (127.0.0.1:9464
// by default).
func ExampleNew_prometheus() {
	ctx := context.Background()
	p, err := exporters.New(ctx,
		exporters.WithLookup(func(string) (string, bool) { return "", false }),
		exporters.WithDefaultExporter("prometheus"),
		exporters.WithPrometheusAddr("127.0.0.1:0"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(ctx)
	fmt.Println(p.Exporters(), p.PrometheusAddr() != "")
	// Output: [prometheus] true
}

// LatencyView on a MeterProvider built by hand, as instrument/ tests do.
func ExampleLatencyView() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(reader),
		sdkmetric.WithView(exporters.LatencyView()),
	)
	defer mp.Shutdown(context.Background())
	_ = mp // record with mp.Meter(...), read with reader.Collect(...)
}
