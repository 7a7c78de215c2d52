package exporters

import (
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/poolscope/poolscope/internal/latency"
)

// LatencyView returns the view that gives every histogram whose unit is "s"
// the shared explicit bucket boundaries of internal/latency (10 us to 10 s).
// New installs it on every Pipeline; tests that build their own
// MeterProvider install it with sdkmetric.WithView(exporters.LatencyView())
// to see the buckets production uses.
//
// It takes precedence over the boundaries an instrument advises
// (metric.WithExplicitBucketBoundaries) and over the reader's default
// aggregation, so every poolscope duration histogram has the same buckets
// whatever the exporter.
func LatencyView() sdkmetric.View {
	return sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latency.Copy()}},
	)
}
