package exporters

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/internal/redistest"
)

func TestPrometheus(t *testing.T) {
	t.Run("binds the loopback address by default", func(t *testing.T) {
		// Port 0 through the variable keeps the default host.
		p, err := New(context.Background(), env(map[string]string{
			"OTEL_METRICS_EXPORTER":         "prometheus",
			"OTEL_EXPORTER_PROMETHEUS_PORT": "0",
		}))
		if err != nil {
			t.Fatal(err)
		}
		shutdown(t, p)
		host, port, err := net.SplitHostPort(p.PrometheusAddr())
		if err != nil {
			t.Fatal(err)
		}
		if host != "127.0.0.1" || port == "0" {
			t.Errorf("PrometheusAddr() = %q, want 127.0.0.1 and a real port", p.PrometheusAddr())
		}
	})

	t.Run("default address is 127.0.0.1:9464", func(t *testing.T) {
		s, err := readSettings(newConfig([]Option{env(map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"})}))
		if err != nil {
			t.Fatal(err)
		}
		if s.prometheusAddr != "127.0.0.1:9464" {
			t.Errorf("prometheus address = %q, want 127.0.0.1:9464", s.prometheusAddr)
		}
	})

	t.Run("host and port variables", func(t *testing.T) {
		s, err := readSettings(newConfig([]Option{env(map[string]string{
			"OTEL_METRICS_EXPORTER":         "prometheus",
			"OTEL_EXPORTER_PROMETHEUS_HOST": "::1",
			"OTEL_EXPORTER_PROMETHEUS_PORT": "9999",
		})}))
		if err != nil {
			t.Fatal(err)
		}
		if s.prometheusAddr != "[::1]:9999" {
			t.Errorf("prometheus address = %q, want [::1]:9999", s.prometheusAddr)
		}
	})

	t.Run("serves what was recorded", func(t *testing.T) {
		p, err := New(context.Background(),
			env(map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_SERVICE_NAME": "prom-test"}),
			WithPrometheusAddr("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		shutdown(t, p)
		meter := p.MeterProvider().Meter("test")
		hits, err := meter.Int64Counter("redis.client.connection.hits", metric.WithUnit("{hit}"))
		if err != nil {
			t.Fatal(err)
		}
		wait, err := meter.Float64Histogram("db.client.connection.wait_time", metric.WithUnit("s"))
		if err != nil {
			t.Fatal(err)
		}
		pool := metric.WithAttributes(attribute.String("db.client.connection.pool.name", "master"))
		hits.Add(context.Background(), 3, pool)
		wait.Record(context.Background(), 0.000015, pool)

		body := redistest.Scrape(t, "http://"+p.PrometheusAddr()+"/metrics")
		for _, want := range []string{
			`redis_client_connection_hits_total{db_client_connection_pool_name="master"`,
			`db_client_connection_wait_time_seconds_bucket{db_client_connection_pool_name="master"`,
			`le="1e-05"} 0`,
			`le="2e-05"} 1`,
			`service_name="prom-test"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics does not contain %q:\n%s", want, body)
			}
		}

		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if conn, err := net.Dial("tcp", p.PrometheusAddr()); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Shutdown", p.PrometheusAddr())
		}
	})

	t.Run("busy port", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		_, err = New(context.Background(),
			env(map[string]string{"OTEL_METRICS_EXPORTER": "prometheus,console"}),
			WithConsoleWriter(io.Discard),
			WithPrometheusAddr(lis.Addr().String()))
		if err == nil {
			t.Fatal("New succeeded on a busy port")
		}
		if errors.Is(err, ErrInvalidConfig) {
			t.Errorf("a busy port is reported as a configuration error: %v", err)
		}
		if want := "exporters: prometheus: listen on " + lis.Addr().String(); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	})
}
