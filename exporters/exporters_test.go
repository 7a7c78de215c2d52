package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env returns a WithLookup option over a map, so that no test touches the
// process environment.
func env(vars map[string]string) Option {
	return WithLookup(func(key string) (string, bool) {
		v, ok := vars[key]
		return v, ok
	})
}

// with returns a copy of base with the pairs added.
func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// refusingAddr returns a loopback address that refuses connections at
// once, for the whole test.
func refusingAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", redistest.RefusedPort(t))
}

// shutdown shuts p down when the test ends, in case the test did not.
func shutdown(t *testing.T, p *Pipeline) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
}

// quickOTLP points OTLP at an address that refuses connections, with short
// timeouts, for tests that select otlp without caring about its output.
func quickOTLP(t *testing.T) map[string]string {
	return map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + refusingAddr(t),
		"OTEL_METRIC_EXPORT_TIMEOUT":  "200",
		"OTEL_EXPORTER_OTLP_TIMEOUT":  "200",
	}
}

func TestNewSelectsExporters(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		opts []Option
		want []string
	}{
		{name: "unset defaults to otlp", want: []string{"otlp"}},
		{name: "otlp", vars: map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, want: []string{"otlp"}},
		{name: "prometheus", vars: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}, want: []string{"prometheus"}},
		{name: "console", vars: map[string]string{"OTEL_METRICS_EXPORTER": "console"}, want: []string{"console"}},
		{name: "none", vars: map[string]string{"OTEL_METRICS_EXPORTER": "none"}, want: nil},
		{
			name: "list with spaces and a duplicate",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": " otlp , prometheus,otlp,console,"},
			want: []string{"otlp", "prometheus", "console"},
		},
		{name: "WithDefaultExporter when unset", opts: []Option{WithDefaultExporter("console")}, want: []string{"console"}},
		{name: "WithDefaultExporter none", opts: []Option{WithDefaultExporter("none")}, want: nil},
		{
			name: "the variable wins over WithDefaultExporter",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"},
			opts: []Option{WithDefaultExporter("console")},
			want: []string{"prometheus"},
		},
		{
			name: "empty variable counts as unset",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": "  "},
			opts: []Option{WithDefaultExporter("console")},
			want: []string{"console"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := with(quickOTLP(t))
			for k, v := range tt.vars {
				vars[k] = v
			}
			var console bytes.Buffer
			opts := append([]Option{
				env(vars),
				WithPrometheusAddr("127.0.0.1:0"),
				WithConsoleWriter(&console),
			}, tt.opts...)
			p, err := New(context.Background(), opts...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			shutdown(t, p)
			if got := p.Exporters(); !slices.Equal(got, tt.want) {
				t.Errorf("Exporters() = %q, want %q", got, tt.want)
			}
			if got, want := p.PrometheusAddr() != "", slices.Contains(tt.want, "prometheus"); got != want {
				t.Errorf("PrometheusAddr() = %q; prometheus selected: %v", p.PrometheusAddr(), want)
			}

			counter, err := p.MeterProvider().Meter("test").Int64Counter("poolscope.test.selected")
			if err != nil {
				t.Fatal(err)
			}
			counter.Add(context.Background(), 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = p.Shutdown(ctx)
			if !slices.Contains(tt.want, "otlp") && err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if got, want := strings.Contains(console.String(), "poolscope.test.selected"), slices.Contains(tt.want, "console"); got != want {
				t.Errorf("console output has the metric: %v, want %v; output:\n%s", got, want, console.String())
			}
		})
	}
}

func TestExportersReturnsACopy(t *testing.T) {
	p, err := New(context.Background(), env(map[string]string{"OTEL_METRICS_EXPORTER": "console"}), WithConsoleWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, p)
	p.Exporters()[0] = "changed"
	if got := p.Exporters(); got[0] != "console" {
		t.Errorf("Exporters() after changing a returned slice = %q", got)
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		opts []Option
		want []string // each must appear in the error text
	}{
		{
			name: "unknown exporter",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": "foo"},
			want: []string{`exporters: OTEL_METRICS_EXPORTER="foo": unknown exporter (want otlp, prometheus, console or none)`},
		},
		{
			name: "unknown exporter in a list",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": "otlp,jaeger"},
			want: []string{`exporters: OTEL_METRICS_EXPORTER="otlp,jaeger": unknown exporter "jaeger" (want otlp, prometheus, console or none)`},
		},
		{
			name: "none with another exporter",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": "none,otlp"},
			want: []string{`exporters: OTEL_METRICS_EXPORTER="none,otlp": none cannot be combined with other exporters`},
		},
		{
			name: "only commas",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": ", ,"},
			want: []string{`exporters: OTEL_METRICS_EXPORTER=", ,": no exporter named (want otlp, prometheus, console or none)`},
		},
		{
			name: "unknown default exporter",
			opts: []Option{WithDefaultExporter("statsd")},
			want: []string{`exporters: WithDefaultExporter("statsd"): unknown exporter (want otlp, prometheus, console or none)`},
		},
		{
			name: "interval not a number",
			vars: map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "10s"},
			want: []string{`exporters: OTEL_METRIC_EXPORT_INTERVAL="10s": not a positive whole number of milliseconds`},
		},
		{
			name: "interval zero",
			vars: map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "0"},
			want: []string{`exporters: OTEL_METRIC_EXPORT_INTERVAL="0": not a positive whole number of milliseconds`},
		},
		{
			name: "interval negative",
			vars: map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "-1000"},
			want: []string{`OTEL_METRIC_EXPORT_INTERVAL="-1000": not a positive whole number of milliseconds`},
		},
		{
			name: "export timeout overflows",
			vars: map[string]string{"OTEL_METRIC_EXPORT_TIMEOUT": "99999999999999999"},
			want: []string{`OTEL_METRIC_EXPORT_TIMEOUT="99999999999999999": not a positive whole number of milliseconds`},
		},
		{
			name: "otlp timeout",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "1.5"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_TIMEOUT="1.5": not a positive whole number of milliseconds`},
		},
		{
			name: "metrics-specific otlp timeout is the one named",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "1000", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "soon"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT="soon": not a positive whole number of milliseconds`},
		},
		{
			name: "unknown protocol",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "udp"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_PROTOCOL="udp": unknown protocol (want grpc or http/protobuf)`},
		},
		{
			name: "http/json protocol",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/json": not implemented by the Go OTLP exporters (want grpc or http/protobuf)`},
		},
		{
			name: "unknown compression",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_COMPRESSION="zstd": unknown compression (want gzip or none)`},
		},
		{
			name: "insecure not a boolean",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "yes"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_INSECURE="yes": not a boolean (want true or false)`},
		},
		{
			name: "endpoint scheme",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_ENDPOINT="ftp://collector:4318": unsupported scheme (want http or https)`},
		},
		{
			name: "endpoint without host",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http:///v1/metrics"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http:///v1/metrics": no host`},
		},
		{
			name: "endpoint without port nor scheme",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_ENDPOINT="collector": want a URL (http://host:port or https://host:port) or host:port`},
		},
		{
			name: "endpoint not a URL",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:port/"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:port/": not a valid URL`},
		},
		{
			name: "temporality",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sometimes"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="sometimes": unknown temporality (want cumulative, delta or lowmemory)`},
		},
		{
			name: "histogram aggregation",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "summary"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION="summary": unknown aggregation`},
		},
		{
			name: "certificate file missing",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_CERTIFICATE="/nonexistent/ca.pem": cannot read the CA certificate:`},
		},
		{
			name: "certificate with a plain http endpoint",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ca.pem"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_CERTIFICATE="/etc/ca.pem": set, but the OTLP endpoint "http://collector:4318" is not TLS (http)`},
		},
		{
			name: "client certificate without key",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/etc/client.pem"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="/etc/client.pem": set without OTEL_EXPORTER_OTLP_CLIENT_KEY`},
		},
		{
			name: "prometheus port",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "70000"},
			want: []string{`exporters: OTEL_EXPORTER_PROMETHEUS_PORT="70000": not a port number (0 to 65535)`},
		},
		{
			name: "prometheus address option",
			vars: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"},
			opts: []Option{WithPrometheusAddr("9464")},
			want: []string{`exporters: WithPrometheusAddr("9464"): not host:port`},
		},
		{
			name: "resource attribute without value",
			vars: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=cache,region"},
			want: []string{`exporters: OTEL_RESOURCE_ATTRIBUTES="team=cache,region": entry "region" is not key=value`},
		},
		{
			name: "resource attribute bad encoding",
			vars: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=a%zz"},
			want: []string{`exporters: OTEL_RESOURCE_ATTRIBUTES="team=a%zz": value of "team" is not valid percent-encoding`},
		},
		{
			name: "every problem at once",
			vars: map[string]string{
				"OTEL_METRICS_EXPORTER":         "otlp,prometheus",
				"OTEL_METRIC_EXPORT_INTERVAL":   "often",
				"OTEL_EXPORTER_OTLP_PROTOCOL":   "carrier-pigeon",
				"OTEL_EXPORTER_OTLP_TIMEOUT":    "-1",
				"OTEL_EXPORTER_PROMETHEUS_PORT": "http",
			},
			want: []string{
				`OTEL_METRIC_EXPORT_INTERVAL="often"`,
				`OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon"`,
				`OTEL_EXPORTER_OTLP_TIMEOUT="-1"`,
				`OTEL_EXPORTER_PROMETHEUS_PORT="http"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]Option{env(tt.vars), WithConsoleWriter(io.Discard)}, tt.opts...)
			p, err := New(context.Background(), opts...)
			if err == nil {
				_ = p.Shutdown(context.Background())
				t.Fatalf("New succeeded, want an error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("errors.Is(err, ErrInvalidConfig) = false for %v", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, want)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.want) {
				t.Errorf("error has %d lines, want %d:\n%v", got, len(tt.want), err)
			}
		})
	}
}

func TestUnusedExporterVariablesAreNotValidated(t *testing.T) {
	vars := map[string]string{
		"OTEL_METRICS_EXPORTER":         "console",
		"OTEL_EXPORTER_OTLP_PROTOCOL":   "udp",
		"OTEL_EXPORTER_PROMETHEUS_PORT": "http",
	}
	p, err := New(context.Background(), env(vars), WithConsoleWriter(io.Discard))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownTwice(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		{name: "no reader"},
		{name: "a manual reader", opts: []Option{WithReader(sdkmetric.NewManualReader())}},
		{name: "prometheus and console", opts: []Option{
			WithDefaultExporter("prometheus,console"), WithPrometheusAddr("127.0.0.1:0"), WithConsoleWriter(io.Discard),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(context.Background(), append([]Option{
				env(map[string]string{}), WithDefaultExporter("none"),
			}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := p.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown #%d: %v", i+1, err)
				}
			}
		})
	}
}
