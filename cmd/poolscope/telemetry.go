package main

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newMeterProvider is the metric pipeline of the commands that export:
// OTLP over gRPC with a periodic reader, configured by the standard
// OTEL_EXPORTER_OTLP_* and OTEL_METRIC_EXPORT_INTERVAL variables (read by
// the SDK from the process environment), or nothing with
// OTEL_METRICS_EXPORTER=none. shutdown flushes; bound it with its context.
//
// It is a stand-in: exporters/ will replace it.
func newMeterProvider(ctx context.Context, e env) (provider metric.MeterProvider, shutdown func(context.Context) error, err error) {
	if v, _ := e.lookup("OTEL_METRICS_EXPORTER"); v == "none" {
		return noop.NewMeterProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlpmetricgrpc.New(ctx)
	if err != nil {
		return nil, nil, err
	}
	service := "poolscope-agent"
	if v, ok := e.lookup("OTEL_SERVICE_NAME"); ok && v != "" {
		service = v
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		res = resource.Default()
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
	return mp, mp.Shutdown, nil
}
