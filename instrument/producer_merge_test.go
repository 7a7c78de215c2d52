package instrument_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestPipelineOneSeriesPerPool: two *pools.Pools of one program with the
// same pools on the same server, and a third closed before them, are
// instrumented on poolscope's pipeline (whose Producer they share): the
// Prometheus endpoint serves each series once, with every use counted.
// Before, each Instrumentation's lock-free histograms came out as a series
// of their own, and Prometheus's exporter refused the whole scrape ("was
// collected before with the same name and label values").
func TestPipelineOneSeriesPerPool(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	env := map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "0"}
	pipeline, err := exporters.New(ctx, exporters.WithLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pipeline.Shutdown(context.Background()) })
	open := func(n int) *instrument.Instrumentation {
		p := openPools(t, srv, nil)
		i, err := instrument.New(p, instrument.WithMeterProvider(pipeline.MeterProvider()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = i.Close() })
		if !instrument.UsesProducer(i) {
			t.Fatal("the pipeline's Producer is not used")
		}
		gets(t, ctx, p.Master(), n)
		return i
	}
	_ = open(5).Close()
	open(7)
	open(11)

	body := redistest.Scrape(t, "http://"+pipeline.PrometheusAddr()+"/metrics") // fails on the refused scrape
	series := regexp.MustCompile(`(?m)^db_client_connection_use_time_seconds_count\{[^}]*db_client_connection_pool_name="master"[^}]*\} (\d+)$`).FindAllStringSubmatch(body, -1)
	if len(series) != 1 || atoi(t, series[0][1]) < 5+7+11 {
		t.Errorf("master's use_time count: %q, want one series of at least 23 uses", series)
	}
}

// TestProducerRetiresClosed: a closed Instrumentation's histograms are
// folded into the Producer once retireAfter has passed, so that a program
// re-creating its Instrumentations does not keep each one's histograms;
// the series go on cumulatively, merged with the next Instrumentation's.
func TestProducerRetiresClosed(t *testing.T) {
	instrument.SetRetireAfter(t, 0)
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	producer := instrument.NewProducer()
	r := newReaderWith(t, sdkmetric.WithProducer(producer))
	useTime := func(s snapshot) (count uint64, points int) {
		m, _ := s.metric("db.client.connection.use_time")
		for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
			if matches(dp.Attributes, []attribute.KeyValue{pool("master")}) {
				count += dp.Count
				points++
			}
		}
		return count, points
	}

	first := openPools(t, srv, nil)
	i, err := instrument.New(first, instrument.WithMeterProvider(r.provider), instrument.WithProducer(producer))
	if err != nil {
		t.Fatal(err)
	}
	gets(t, ctx, first.Master(), 5)
	before, _ := useTime(r.collect(t))
	_ = i.Close()
	after, points := useTime(r.collect(t))
	if n := instrument.ProducerSources(producer); n != 0 {
		t.Errorf("the Producer still holds %d Instrumentation(s) after the closed one was retired", n)
	}
	if after != before || points != 1 || before < 5 {
		t.Errorf("master's use_time after retirement: %d in %d point(s), want the %d (>= 5) recorded before, in one", after, points, before)
	}

	second := openPools(t, srv, nil)
	r.instrumentT(t, second, instrument.WithProducer(producer))
	gets(t, ctx, second.Master(), 7)
	total, points := useTime(r.collect(t))
	if points != 1 || total < before+7 {
		t.Errorf("master's use_time with a successor: %d in %d point(s), want at least %d in one", total, points, before+7)
	}
	again, _ := useTime(r.collect(t)) // the retired point is not added to twice
	if again != total {
		t.Errorf("master's use_time moved from %d to %d without any command", total, again)
	}
}

// TestProducerBoundsConflict: two Instrumentations on one Producer that
// record one series with different buckets cannot be merged; the first
// one's data is exported, once, and the conflict reported to otel.Handle.
func TestProducerBoundsConflict(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	errs := captureOtelErrors(t)
	producer := instrument.NewProducer()
	r := newReaderWith(t, sdkmetric.WithProducer(producer))
	a, b := openPools(t, srv, nil), openPools(t, srv, nil)
	r.instrumentT(t, a, instrument.WithProducer(producer))
	r.instrumentT(t, b, instrument.WithProducer(producer), instrument.WithHistogramBoundaries(0.001, 0.01, 0.1))
	gets(t, ctx, a.Master(), 3)
	gets(t, ctx, b.Master(), 4)
	for range 2 {
		s := r.collect(t)
		m, _ := s.metric("db.client.connection.use_time")
		var points []metricdata.HistogramDataPoint[float64]
		for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
			if matches(dp.Attributes, []attribute.KeyValue{pool("master")}) {
				points = append(points, dp)
			}
		}
		if len(points) != 1 || len(points[0].Bounds) == 3 {
			t.Fatalf("master's use_time: %+v: want one point, with the first Instrumentation's bounds", points)
		}
	}
	var reported int
	for _, err := range errs.all() {
		if strings.Contains(err.Error(), "db.client.connection.use_time") && strings.Contains(err.Error(), "different bucket bounds") {
			reported++
		}
	}
	if reported != 1 {
		t.Errorf("the use_time conflict was reported %d times, want once; errors: %v", reported, errs.all())
	}
}

// TestProducerConcurrentProductions: two readers produce at once while
// Instrumentations are closed, folded and re-created on their Producer
// (run under -race); every series comes out once, and the count never
// goes down.
func TestProducerConcurrentProductions(t *testing.T) {
	instrument.SetRetireAfter(t, 0)
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	producer := instrument.NewProducer()
	one := sdkmetric.NewManualReader(sdkmetric.WithProducer(producer))
	two := sdkmetric.NewManualReader(sdkmetric.WithProducer(producer))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(one), sdkmetric.WithReader(two))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	done := make(chan struct{})
	errc := make(chan string, 2)
	for _, rd := range []*sdkmetric.ManualReader{one, two} {
		go func() {
			var last uint64
			for {
				select {
				case <-done:
					errc <- ""
					return
				default:
				}
				var s snapshot
				if err := rd.Collect(context.Background(), &s.rm); err != nil {
					errc <- err.Error()
					return
				}
				var count uint64
				m, _ := s.metric("db.client.connection.use_time")
				points := 0
				if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
					for _, dp := range h.DataPoints {
						if matches(dp.Attributes, []attribute.KeyValue{pool("master")}) {
							count += dp.Count
							points++
						}
					}
				}
				if points > 1 || count < last {
					errc <- fmt.Sprintf("master's use_time: %d point(s), count %d after %d", points, count, last)
					return
				}
				last = count
			}
		}()
	}
	for range 5 {
		p := openPools(t, srv, nil)
		i, err := instrument.New(p, instrument.WithMeterProvider(mp), instrument.WithProducer(producer))
		if err != nil {
			t.Fatal(err)
		}
		gets(t, ctx, p.Master(), 3)
		_ = i.Close()
		_ = p.Close()
	}
	close(done)
	for range 2 {
		if msg := <-errc; msg != "" {
			t.Error(msg)
		}
	}
}
