package instrument_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestPipelineProducer: on a MeterProvider that exporters.New built, New
// uses the lock-free histograms without WithProducer, and the pipeline's
// readers export each series once; WithProducer(nil), or a reader of the
// caller's in the pipeline (which would lack the pipeline's Producer
// slot), keep the SDK instruments. Either way the histograms arrive.
func TestPipelineProducer(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	env := map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "0"}
	lookup := exporters.WithLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	tests := []struct {
		name     string
		pipeline []exporters.Option
		opts     []instrument.Option
		global   bool // the pipeline's provider installed with otel.SetMeterProvider
		producer bool
	}{
		{"the pipeline's own", nil, nil, false, true},
		{"the pipeline's own, as the global provider", nil, nil, true, true},
		{"WithProducer(nil) keeps the SDK", nil, []instrument.Option{instrument.WithProducer(nil)}, false, false},
		{"a reader of the caller's: the SDK", []exporters.Option{exporters.WithReader(sdkmetric.NewManualReader())}, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := redistest.Context(t, waitLong)
			pipeline, err := exporters.New(ctx, append([]exporters.Option{lookup}, tt.pipeline...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pipeline.Shutdown(context.Background()) })
			opts := tt.opts
			if tt.global {
				before := otel.GetMeterProvider()
				otel.SetMeterProvider(pipeline.MeterProvider())
				t.Cleanup(func() { otel.SetMeterProvider(before) })
			} else {
				opts = append([]instrument.Option{instrument.WithMeterProvider(pipeline.MeterProvider())}, opts...)
			}
			p := openPools(t, srv, nil)
			inst, err := instrument.New(p, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = inst.Close() })
			if got := instrument.UsesProducer(inst); got != tt.producer {
				t.Errorf("lock-free histograms: %v, want %v", got, tt.producer)
			}
			gets(t, ctx, p.Master(), 5)

			body := redistest.Scrape(t, "http://"+pipeline.PrometheusAddr()+"/metrics")
			series := regexp.MustCompile(`(?m)^db_client_connection_use_time_seconds_count\{[^}]*db_client_connection_pool_name="master"[^}]*\} (\d+)$`).FindAllStringSubmatch(body, -1)
			if len(series) != 1 || atoi(t, series[0][1]) < 5 {
				t.Errorf("master's use_time count: %q, want one series of at least 5 uses\n%s", series, body)
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
