package exporters

import (
	otelprometheus "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// WithProducer attaches p to every reader New builds (OTLP, Prometheus,
// console), so that the metrics p produces are exported next to the
// MeterProvider's: for example instrument.NewProducer(), whose lock-free
// duration histograms need it. Readers added with WithReader are the
// caller's: attach p to them with sdkmetric.WithProducer. Several calls add
// up; nil is ignored.
func WithProducer(p sdkmetric.Producer) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.producers = append(c.producers, p)
		}
	})
}

func periodicProducers(ps []sdkmetric.Producer) []sdkmetric.PeriodicReaderOption {
	out := make([]sdkmetric.PeriodicReaderOption, len(ps))
	for i, p := range ps {
		out[i] = sdkmetric.WithProducer(p)
	}
	return out
}

func prometheusProducers(ps []sdkmetric.Producer) []otelprometheus.Option {
	out := make([]otelprometheus.Option, len(ps))
	for i, p := range ps {
		out[i] = otelprometheus.WithProducer(p)
	}
	return out
}
