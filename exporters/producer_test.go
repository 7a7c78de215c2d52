package exporters

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// fixedProducer produces one gauge and counts its calls.
type fixedProducer struct {
	mu    sync.Mutex
	calls int
}

func (p *fixedProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: "producer-test"},
		Metrics: []metricdata.Metrics{{Name: "test.produced", Unit: "1", Data: metricdata.Gauge[int64]{
			DataPoints: []metricdata.DataPoint[int64]{{Value: 42}},
		}}},
	}}, nil
}

// TestWithProducer: every reader New builds exports what the producer
// produces.
func TestWithProducer(t *testing.T) {
	t.Run("prometheus", func(t *testing.T) {
		prod := &fixedProducer{}
		p, err := New(context.Background(), WithProducer(prod), env(map[string]string{
			"OTEL_METRICS_EXPORTER":         "prometheus",
			"OTEL_EXPORTER_PROMETHEUS_PORT": "0",
		}))
		if err != nil {
			t.Fatal(err)
		}
		shutdown(t, p)
		if body := scrape(t, "http://"+p.PrometheusAddr()+"/metrics"); !strings.Contains(body, "test_produced") {
			t.Errorf("no test_produced in the scrape:\n%s", body)
		}
	})
	t.Run("console (periodic, as OTLP)", func(t *testing.T) {
		prod := &fixedProducer{}
		var out bytes.Buffer
		p, err := New(context.Background(), WithProducer(prod), WithProducer(nil), WithConsoleWriter(&out),
			env(map[string]string{"OTEL_METRICS_EXPORTER": "console"}))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Shutdown(context.Background()); err != nil { // flushes once
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "test.produced") {
			t.Errorf("no test.produced in the console output:\n%s", out.String())
		}
	})
}
