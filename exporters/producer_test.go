package exporters

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/internal/autoproduce"
	"github.com/poolscope/poolscope/internal/redistest"
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
		if body := redistest.Scrape(t, "http://"+p.PrometheusAddr()+"/metrics"); !strings.Contains(body, "test_produced") {
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

// TestProducerSlot: a pipeline of New's own readers carries a Producer slot
// on each of them, registered for instrument until Shutdown; a pipeline
// with a reader of the caller's (which would lack the slot) registers none.
func TestProducerSlot(t *testing.T) {
	prom := env(map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "0"})
	p, err := New(context.Background(), prom)
	if err != nil {
		t.Fatal(err)
	}
	slot := autoproduce.Of(p.MeterProvider())
	if slot == nil {
		t.Fatal("no slot registered for the pipeline's MeterProvider")
	}
	slot.LoadOrStore(&fixedProducer{})
	if body := redistest.Scrape(t, "http://"+p.PrometheusAddr()+"/metrics"); !strings.Contains(body, "test_produced") {
		t.Errorf("the slot's producer is not exported:\n%s", body)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if autoproduce.Of(p.MeterProvider()) != nil {
		t.Error("the slot is still registered after Shutdown")
	}

	own, err := New(context.Background(), prom, WithReader(sdkmetric.NewManualReader()))
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, own)
	if autoproduce.Of(own.MeterProvider()) != nil {
		t.Error("a pipeline with a reader of the caller's registered a slot")
	}
}
