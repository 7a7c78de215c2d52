package instrument_test

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// benchMode is one way of running the benchmark's client.
type benchMode struct {
	name string
	// observe instruments c with mp and returns the undo.
	observe func(b *testing.B, c *redis.Client, mp *sdkmetric.MeterProvider) func()
}

var (
	modeBare = benchMode{"bare", func(*testing.B, *redis.Client, *sdkmetric.MeterProvider) func() { return func() {} }}

	modePoolscope = benchMode{"poolscope", func(b *testing.B, c *redis.Client, mp *sdkmetric.MeterProvider) func() {
		i, err := instrument.NewClient(c, instrument.WithMeterProvider(mp))
		if err != nil {
			b.Fatal(err)
		}
		return func() { _ = i.Close() }
	}}

	modeRedisotel = benchMode{"redisotel", func(b *testing.B, c *redis.Client, mp *sdkmetric.MeterProvider) func() {
		done := make(chan struct{})
		if err := redisotel.InstrumentMetrics(c, redisotel.WithMeterProvider(mp), redisotel.WithCloseChan(done)); err != nil {
			b.Fatal(err)
		}
		return func() { close(done) }
	}}

	// modeNopRecorder installs a go-redis recorder that does nothing: what
	// go-redis itself spends per command once any recorder is installed
	// (poolscope's, or go-redis's own native instrumentation).
	modeNopRecorder = benchMode{"nop-recorder", func(*testing.B, *redis.Client, *sdkmetric.MeterProvider) func() {
		redis.SetOTelRecorder(nopRecorder{})
		return func() { redis.SetOTelRecorder(nil) }
	}}

	// modeControl is bare again: its ratio to bare is the harness's noise.
	modeControl = benchMode{"control", modeBare.observe}
)

var benchKeys = func() []string {
	keys := make([]string, 64)
	for k := range keys {
		keys[k] = "bench:" + strconv.Itoa(k)
	}
	return keys
}()

const benchValue = "0123456789abcdef"

// setKeys writes every key, so that each GET finds a value.
func setKeys(b *testing.B, srv *redisserver.Server) {
	for _, k := range benchKeys {
		if err := srv.Admin().Set(context.Background(), k, benchValue, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// op is one operation of the workload: SET or GET, alternately.
func op(ctx context.Context, b *testing.B, c *redis.Client, n int) {
	var err error
	key := benchKeys[n%len(benchKeys)]
	if n%2 == 0 {
		err = c.Set(ctx, key, benchValue, 0).Err()
	} else {
		err = c.Get(ctx, key).Err()
	}
	if err != nil {
		b.Error(err)
	}
}

// BenchmarkGetSet runs the same GET/SET workload (half each, 64 keys,
// 16-byte values) against a redis-server on loopback through a bare go-redis
// client, the same client instrumented by poolscope, and the same client
// instrumented by redisotel.InstrumentMetrics; sequentially and with 4
// goroutines per core. Every case gets a fresh client and a MeterProvider
// with a ManualReader (no exporter), undone before the next case
// (poolscope's recorder is process-wide). It gives ns/op and allocs/op;
// BenchmarkOverhead gives the ratios.
func BenchmarkGetSet(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	setKeys(b, srv)
	for _, mode := range []benchMode{modeBare, modePoolscope, modeRedisotel} {
		for _, parallel := range []bool{false, true} {
			name := mode.name + "/sequential"
			if parallel {
				name = mode.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				undo := mode.observe(b, c, mp)
				defer func() {
					undo()
					_ = c.Close()
					_ = mp.Shutdown(ctx)
				}()
				for n := range 2 * len(benchKeys) {
					op(ctx, b, c, n)
				}
				runtime.GC()
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for n := 0; b.Loop(); n++ {
						op(ctx, b, c, n)
					}
					return
				}
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for n := 0; pb.Next(); n++ {
						op(ctx, b, c, n)
					}
				})
			})
		}
	}
}

// BenchmarkOverhead measures BenchmarkGetSet's modes against each other in
// one process, finely interleaved. Every iteration is a round that runs a
// short slice of the workload (300 operations sequentially, 1200 with 4
// goroutines per core) in each mode, in an order rotated from round to
// round, each on a fresh client warmed up before the clock starts (no dial
// is timed, and poolscope's process-wide recorder is installed only during
// its own slices). A round's ratio for a mode is bare's time per operation
// over the mode's, a throughput ratio; the reported metrics are medians over
// the rounds. On a shared 2-core machine that drifts by tens of percent
// from one second to the next, only ratios taken tens of milliseconds apart
// hold still. "control" is bare again: its distance from 1 is the noise.
// "nop-recorder" is go-redis with a recorder that does nothing: the part of
// any recorder-based instrumentation's cost that go-redis itself spends.
// Run it with -benchtime Nx for N rounds.
func BenchmarkOverhead(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	setKeys(b, srv)
	modes := []benchMode{modeBare, modePoolscope, modeRedisotel, modeNopRecorder, modeControl}
	for _, kind := range []struct {
		name     string
		parallel bool
		ops      int
	}{{"sequential", false, 300}, {"parallel", true, 1200}} {
		b.Run(kind.name, func(b *testing.B) {
			ratios := make([][]float64, len(modes))
			for round := 0; b.Loop(); round++ {
				nsOp := make([]float64, len(modes))
				for k := range modes {
					m := (k + round) % len(modes)
					nsOp[m] = benchSlice(b, srv, modes[m], kind.parallel, kind.ops)
				}
				for m := range modes {
					ratios[m] = append(ratios[m], nsOp[0]/nsOp[m])
				}
			}
			for m, mode := range modes[1:] {
				b.ReportMetric(median(ratios[m+1]), mode.name+"/bare")
			}
		})
	}
}

// benchSlice runs ops operations in mode on a fresh client and returns the
// time per operation.
func benchSlice(b *testing.B, srv *redisserver.Server, mode benchMode, parallel bool, ops int) float64 {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	undo := mode.observe(b, c, mp)
	defer func() {
		undo()
		_ = c.Close()
		_ = mp.Shutdown(ctx)
	}()
	workers := 1
	if parallel {
		workers = 4 * runtime.GOMAXPROCS(0) // as b.SetParallelism(4)
	}
	run := func(n int) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range n / workers {
					op(ctx, b, c, w*n+k)
				}
			}()
		}
		wg.Wait()
	}
	run(8 * workers) // dial and warm every connection the slice needs
	// Collect the set-up's garbage (meter provider, instruments, clients)
	// now, so that no mode pays for its set-up in its timed slice.
	runtime.GC()
	start := time.Now()
	run(ops)
	return float64(time.Since(start)) / float64(ops)
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// nopRecorder is a go-redis recorder that records nothing.
type nopRecorder struct{}

func (nopRecorder) RecordOperationDuration(context.Context, time.Duration, redis.Cmder, int, error, redis.ConnInfo, int) {
}
func (nopRecorder) RecordPipelineOperationDuration(context.Context, time.Duration, string, int, int, error, redis.ConnInfo, int) {
}
func (nopRecorder) RecordConnectionCreateTime(context.Context, time.Duration, redis.ConnInfo) {}
func (nopRecorder) RecordConnectionRelaxedTimeout(context.Context, int, redis.ConnInfo, string, string) {
}
func (nopRecorder) RecordConnectionHandoff(context.Context, redis.ConnInfo, string)        {}
func (nopRecorder) RecordError(context.Context, string, redis.ConnInfo, string, bool, int) {}
func (nopRecorder) RecordMaintenanceNotification(context.Context, redis.ConnInfo, string)  {}
func (nopRecorder) RecordConnectionWaitTime(context.Context, time.Duration, redis.ConnInfo) {
}
func (nopRecorder) RecordConnectionClosed(context.Context, redis.ConnInfo, string, error) {}
func (nopRecorder) RecordPubSubMessage(context.Context, redis.ConnInfo, string, string, bool) {
}
func (nopRecorder) RecordStreamLag(context.Context, time.Duration, redis.ConnInfo, string, string, string) {
}
