package instrument_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/latency"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// histograms lists the duration histograms every test below expects.
var histograms = []string{
	"db.client.connection.create_time", "db.client.connection.wait_time", "db.client.connection.use_time",
	"db.client.operation.duration",
}

// instrumentedClient instruments pools on srv with r, command latency
// and opts, and returns their master client.
func instrumentedClient(t *testing.T, r reader, srv *redisserver.Server, opts ...instrument.Option) *redis.Client {
	t.Helper()
	p := openPools(t, srv, nil)
	r.instrumentT(t, p, append([]instrument.Option{instrument.WithCommandLatency(true)}, opts...)...)
	return p.Master()
}

// gets runs n GETs of a missing key.
func gets(t *testing.T, ctx context.Context, c *redis.Client, n int) {
	t.Helper()
	for range n {
		if err := c.Get(ctx, "k").Err(); err != redis.Nil {
			t.Fatal(err)
		}
	}
}

func newReaderWith(t testing.TB, opts ...sdkmetric.ManualReaderOption) reader {
	r := sdkmetric.NewManualReader(opts...)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return reader{ManualReader: r, provider: mp}
}

// names counts each metric name's appearances in a collection: a name
// must appear once, whichever path (SDK or Producer) carried it.
func names(s snapshot) map[string]int {
	out := map[string]int{}
	for _, sm := range s.rm.ScopeMetrics {
		if sm.Scope.Name != instrument.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			out[m.Name]++
		}
	}
	return out
}

// TestProducer: with the Producer on the reader, the duration histograms
// come out of it as standard histograms, once each, with the SDK's names,
// units, buckets and counts.
func TestProducer(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	producer := instrument.NewProducer()
	r := newReaderWith(t, sdkmetric.WithProducer(producer))
	gets(t, ctx, instrumentedClient(t, r, srv, instrument.WithProducer(producer)), 5)

	s := r.collect(t)
	seen := names(s)
	for _, name := range histograms {
		if seen[name] != 1 {
			t.Errorf("%s appears %d times, want once", name, seen[name])
		}
		m, _ := s.metric(name)
		h, ok := m.Data.(metricdata.Histogram[float64])
		if !ok || m.Unit != "s" || m.Description == "" || h.Temporality != metricdata.CumulativeTemporality {
			t.Errorf("%s: %T, unit %q, description %q", name, m.Data, m.Unit, m.Description)
			continue
		}
		for _, dp := range h.DataPoints {
			if !slices.Equal(dp.Bounds, latency.Boundaries) {
				t.Errorf("%s: bounds %v, want %v", name, dp.Bounds, latency.Boundaries)
			}
		}
	}
	if h, _ := s.hist("db.client.operation.duration", operation("GET")); h.count != 5 || h.min <= 0 || h.max < h.min || h.sum < 5*h.min {
		t.Errorf("GET durations: %+v, want 5 between min and max", h)
	}
	if h, _ := s.hist("db.client.connection.use_time", pool("master")); h.count < 5 {
		t.Errorf("use_time: %d, want >= 5", h.count)
	}
	m, _ := s.metric(nameDemand)
	if h, ok := m.Data.(metricdata.Histogram[float64]); !ok || m.Unit != "{connection}" || len(h.DataPoints) != 1 ||
		h.DataPoints[0].Count < 4 || h.DataPoints[0].Bounds[0] != 1 || h.DataPoints[0].Sum < float64(h.DataPoints[0].Count) {
		t.Errorf("%s through the Producer: %+v, unit %q: want one point of >= 4 callers (5 GETs, the first teaching the pool name), each finding >= 1", nameDemand, m.Data, m.Unit)
	}
}

// TestProducerMissing: a reader that collects without the Producer makes
// the Instrumentation report ErrProducerMissing and fall back to the SDK
// histograms, with every measurement made before and after in them.
func TestProducerMissing(t *testing.T) {
	tests := []struct {
		name     string
		attached bool // a second reader has the Producer
	}{
		{"on no reader", false},
		{"on one reader of two", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t, redisserver.Options{})
			ctx := redistest.Context(t, waitLong)
			errs := captureOtelErrors(t)
			producer := instrument.NewProducer()
			without := sdkmetric.NewManualReader()
			with := sdkmetric.NewManualReader(sdkmetric.WithProducer(producer))
			mpOpts := []sdkmetric.Option{sdkmetric.WithReader(without)}
			if tt.attached {
				mpOpts = append(mpOpts, sdkmetric.WithReader(with))
			}
			mp := sdkmetric.NewMeterProvider(mpOpts...)
			t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			r := reader{ManualReader: without, provider: mp}

			c := instrumentedClient(t, r, srv, instrument.WithProducer(producer))
			gets(t, ctx, c, 3)
			var s snapshot
			for range 6 { // collections without productions
				s = r.collect(t)
				if tt.attached {
					reader{ManualReader: with, provider: mp}.collect(t)
				}
			}
			if !errs.has(instrument.ErrProducerMissing) {
				t.Fatalf("no ErrProducerMissing after 6 collections; errors: %v", errs.all())
			}
			if h, _ := s.hist("db.client.operation.duration", operation("GET")); h.count != 3 {
				t.Errorf("GET durations after the fall-back: %d, want the 3 made before it", h.count)
			}
			gets(t, ctx, c, 2) // through the SDK now
			s = r.collect(t)
			if h, _ := s.hist("db.client.operation.duration", operation("GET")); h.count != 5 {
				t.Errorf("GET durations: %d, want 5", h.count)
			}
			for name, n := range names(s) {
				if n != 1 {
					t.Errorf("%s appears %d times", name, n)
				}
			}
			if tt.attached {
				w := reader{ManualReader: with, provider: mp}.collect(t)
				if h, _ := w.hist("db.client.operation.duration", operation("GET")); h.count != 5 {
					t.Errorf("the reader with the Producer: %d GET durations, want 5 (from the SDK now)", h.count)
				}
				for name, n := range names(w) {
					if n != 1 {
						t.Errorf("reader with the Producer: %s appears %d times", name, n)
					}
				}
			}
		})
	}
}

// otelErrors collects what otel.Handle receives during a test.
type otelErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *otelErrors) Handle(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

func (e *otelErrors) has(target error) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.ContainsFunc(e.errs, func(err error) bool { return errors.Is(err, target) })
}

func (e *otelErrors) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.errs)
}

func captureOtelErrors(t *testing.T) *otelErrors {
	e := &otelErrors{}
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(e)
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	return e
}
