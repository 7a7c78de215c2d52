package exporters

import (
	"io"
	"os"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Option configures New.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config holds what the options set. The environment is read later, through
// lookup, so that every problem can be reported at once.
type config struct {
	lookup             func(string) (string, bool)
	defaultServiceName string
	defaultExporter    string // "" means the spec's default, otlp
	prometheusAddr     string // "" means OTEL_EXPORTER_PROMETHEUS_HOST/PORT or 127.0.0.1:9464
	readers            []sdkmetric.Reader
	producers          []sdkmetric.Producer // producer.go
	resourceAttrs      []attribute.KeyValue
	consoleWriter      io.Writer
}

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	if c.lookup == nil {
		c.lookup = os.LookupEnv
	}
	if c.consoleWriter == nil {
		c.consoleWriter = os.Stdout
	}
	return c
}

// WithLookup sets the function New reads the environment through. The
// default is os.LookupEnv; tests pass a map's lookup so that they never touch
// the process environment. A variable whose value is empty or only spaces
// counts as unset, as the OpenTelemetry specification asks.
func WithLookup(lookup func(key string) (string, bool)) Option {
	return optionFunc(func(c *config) { c.lookup = lookup })
}

// WithDefaultServiceName sets service.name when neither OTEL_SERVICE_NAME nor
// OTEL_RESOURCE_ATTRIBUTES gives one. Without it the executable's name is used.
func WithDefaultServiceName(name string) Option {
	return optionFunc(func(c *config) { c.defaultServiceName = name })
}

// WithDefaultExporter sets the exporters used when OTEL_METRICS_EXPORTER is
// unset, in the variable's own syntax ("prometheus", "otlp,console", "none").
// Without it the default is "otlp", as the OpenTelemetry specification says.
func WithDefaultExporter(exporters string) Option {
	return optionFunc(func(c *config) { c.defaultExporter = exporters })
}

// WithPrometheusAddr sets the host:port the Prometheus exporter listens on.
// It takes precedence over OTEL_EXPORTER_PROMETHEUS_HOST and
// OTEL_EXPORTER_PROMETHEUS_PORT, the way an explicit option takes precedence
// over the environment in the OpenTelemetry Go SDK. Port 0 picks a free port;
// Pipeline.PrometheusAddr tells which. It does not select the prometheus
// exporter: OTEL_METRICS_EXPORTER (or WithDefaultExporter) does.
func WithPrometheusAddr(addr string) Option {
	return optionFunc(func(c *config) { c.prometheusAddr = addr })
}

// WithReader adds a reader to the MeterProvider next to the ones the
// environment selects, typically a sdkmetric.ManualReader in tests (with
// OTEL_METRICS_EXPORTER=none when it should be the only one). The Pipeline
// owns it: Pipeline.Shutdown shuts it down.
func WithReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.readers = append(c.readers, r)
		}
	})
}

// WithResourceAttributes adds resource attributes. They take precedence over
// the detected ones and over OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES:
// what the program states explicitly wins, as in the OpenTelemetry Go SDK.
func WithResourceAttributes(attrs ...attribute.KeyValue) Option {
	return optionFunc(func(c *config) { c.resourceAttrs = append(c.resourceAttrs, attrs...) })
}

// WithConsoleWriter sets where the console exporter writes (default
// os.Stdout), for a CLI that keeps stdout for its own output, or for tests.
func WithConsoleWriter(w io.Writer) Option {
	return optionFunc(func(c *config) { c.consoleWriter = w })
}
