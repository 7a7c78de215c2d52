package instrument_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// benchMode is one way of running the benchmark's client: the master client
// of a *pools.Pools, observed (or not) the way a user would.
type benchMode struct {
	name string
	// observe instruments the pools p (whose master client c runs the
	// workload) with mp, whose reader has the producer, and returns the
	// undo.
	observe func(b *testing.B, p *pools.Pools, c *redis.Client, mp *sdkmetric.MeterProvider, producer *instrument.Producer) func()
	// collects: the mode exports metrics, so its reader is collected
	// during the timed slices (see collectEvery).
	collects bool
}

func noUndo() {}

var (
	modeBare = benchMode{name: "bare", observe: func(*testing.B, *pools.Pools, *redis.Client, *sdkmetric.MeterProvider, *instrument.Producer) func() {
		return noUndo
	}}

	// modePoolscope instruments the whole *pools.Pools, as users do, with
	// its Producer on the reader, as exporters.New sets it up, and every
	// metric on: command latency (off by default) included.
	modePoolscope = benchMode{name: "poolscope", collects: true, observe: func(b *testing.B, p *pools.Pools, _ *redis.Client, mp *sdkmetric.MeterProvider, producer *instrument.Producer) func() {
		return instrumentBench(b, p, instrument.WithMeterProvider(mp), instrument.WithProducer(producer), instrument.WithCommandLatency(true))
	}}

	// modePoolscopeSDK is poolscope on a MeterProvider of the user's without
	// its Producer: every histogram through the SDK's instruments.
	modePoolscopeSDK = benchMode{name: "poolscope-sdk", collects: true, observe: func(b *testing.B, p *pools.Pools, _ *redis.Client, mp *sdkmetric.MeterProvider, _ *instrument.Producer) func() {
		return instrumentBench(b, p, instrument.WithMeterProvider(mp), instrument.WithCommandLatency(true))
	}}

	// modePoolscopeTraced adds redisotel's tracing through poolscope's
	// option, with an SDK tracer provider that samples every command and
	// exports nothing: the cost of making the spans.
	modePoolscopeTraced = benchMode{name: "poolscope+traces", collects: true, observe: func(b *testing.B, p *pools.Pools, _ *redis.Client, mp *sdkmetric.MeterProvider, producer *instrument.Producer) func() {
		tp := sdktrace.NewTracerProvider()
		undo := instrumentBench(b, p, instrument.WithMeterProvider(mp), instrument.WithProducer(producer), instrument.WithCommandLatency(true), instrument.WithTracing(tp))
		return func() { undo(); _ = tp.Shutdown(context.Background()) }
	}}

	modeRedisotel = benchMode{name: "redisotel", collects: true, observe: func(b *testing.B, _ *pools.Pools, c *redis.Client, mp *sdkmetric.MeterProvider, _ *instrument.Producer) func() {
		done := make(chan struct{})
		if err := redisotel.InstrumentMetrics(c, redisotel.WithMeterProvider(mp), redisotel.WithCloseChan(done)); err != nil {
			b.Fatal(err)
		}
		return func() { close(done) }
	}}

	// modeNopRecorder installs a go-redis recorder that does nothing but
	// implements every interface poolscope's does: what go-redis itself
	// spends per command once any recorder is installed. It is the floor
	// of any recorder-based instrumentation.
	modeNopRecorder = benchMode{name: "nop-recorder", observe: func(*testing.B, *pools.Pools, *redis.Client, *sdkmetric.MeterProvider, *instrument.Producer) func() {
		redis.SetOTelRecorder(nopRecorder{})
		return func() { redis.SetOTelRecorder(nil) }
	}}

	// modeControl is bare again: its ratio to bare is the harness's noise.
	modeControl = benchMode{name: "control", observe: modeBare.observe}
)

func instrumentBench(b *testing.B, p *pools.Pools, opts ...instrument.Option) func() {
	i, err := instrument.New(p, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return func() { _ = i.Close() }
}

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

// benchPools opens pools whose every role points at srv, with the
// defaults a user gets (10 master connections, health checks every 10 s),
// and waits for each role's first health check so that none runs in a
// timed slice. The caller closes them.
func benchPools(b *testing.B, srv *redisserver.Server) *pools.Pools {
	vars := map[string]string{
		"REDIS_MASTER_URL":     srv.URL(),
		"REDIS_LOCAL_URL":      srv.URL(),
		"REDIS_ASYNC_POOL_MIN": "0",
		"OTEL_SERVICE_NAME":    "instrument-bench",
	}
	cfg, err := pools.LoadConfig(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		b.Fatal(err)
	}
	p, err := pools.New(cfg, pools.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	redistest.Eventually(b, 30*time.Second, func() error {
		for _, r := range pools.Roles {
			if !p.Health(r).Checked {
				return fmt.Errorf("%s: no health check yet", r)
			}
		}
		return nil
	})
	return p
}

// benchCase is one mode's client, ready to run.
type benchCase struct {
	p      *pools.Pools
	c      *redis.Client
	reader *sdkmetric.ManualReader
	undo   func()
	mp     *sdkmetric.MeterProvider
}

func openCase(b *testing.B, srv *redisserver.Server, mode benchMode) *benchCase {
	p := benchPools(b, srv)
	producer := instrument.NewProducer()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(producer))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c := p.Master()
	return &benchCase{p: p, c: c, reader: reader, mp: mp, undo: mode.observe(b, p, c, mp, producer)}
}

func (bc *benchCase) close() {
	bc.undo()
	_ = bc.p.Close()
	_ = bc.mp.Shutdown(context.Background())
}

// BenchmarkGetSet runs the same GET/SET workload (half each, 64 keys,
// 16-byte values) against a redis-server on loopback through the master
// client of a *pools.Pools: bare, with the pools instrumented by poolscope,
// with the client instrumented by redisotel.InstrumentMetrics, and with
// go-redis's do-nothing recorder floor; sequentially and with 4 goroutines
// per core. Every case gets fresh pools and a MeterProvider with a
// ManualReader, undone before the next case (poolscope's recorder is
// process-wide). It gives ns/op and allocs/op; BenchmarkOverhead gives the
// ratios and the CPU time.
func BenchmarkGetSet(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	setKeys(b, srv)
	for _, mode := range []benchMode{modeBare, modePoolscope, modePoolscopeSDK, modePoolscopeTraced, modeRedisotel, modeNopRecorder} {
		for _, parallel := range []bool{false, true} {
			name := mode.name + "/sequential"
			if parallel {
				name = mode.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				bc := openCase(b, srv, mode)
				defer bc.close()
				for n := range 2 * len(benchKeys) {
					op(ctx, b, bc.c, n)
				}
				runtime.GC()
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for n := 0; b.Loop(); n++ {
						op(ctx, b, bc.c, n)
					}
					return
				}
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for n := 0; pb.Next(); n++ {
						op(ctx, b, bc.c, n)
					}
				})
			})
		}
	}
}

// overheadModes are BenchmarkOverhead's modes; bare first, the reference of
// every ratio.
var overheadModes = []benchMode{modeBare, modePoolscope, modeRedisotel, modeNopRecorder, modeControl, modePoolscopeSDK, modePoolscopeTraced}

// collectEvery is how often a mode's reader is collected during the
// rounds, as a periodic exporter would, in the mode's own workload time
// (the sum of its timed slices): work an instrumentation moves from the
// command path to collection time is counted in its slices at the rate a
// program running that workload pays it. Counted in wall time instead, a
// mode would be collected about once per round (its slices are a tenth of
// a round, the rest is the other modes and every slice's set-up), ten
// times as often as a program doing the same work.
const collectEvery = time.Second

// BenchmarkOverhead measures BenchmarkGetSet's modes against each other in
// one process, finely interleaved. Every iteration is a round that runs a
// short slice of the workload (1000 operations sequentially, 4000 with 4
// goroutines per core) in each mode, in a random order drawn anew each
// round (seeded: the same sequence every run), each on fresh pools warmed up before the clock starts (no dial is
// timed, and poolscope's process-wide recorder is installed only during its
// own slices). For every slice it takes the wall time and the CPU time of
// the whole process (user + sys, getrusage) per operation; a mode that
// exports metrics has its reader collected, concurrently with the
// workload, in the first of its slices after each collectEvery of its own
// timed workload (a steady-state collection: one untimed collection in the
// set-up builds the fresh pools' series first).
//
// Reported per kind (sequential, parallel):
//   - MODE/bare: the median over rounds of the throughput ratio to bare in
//     the same round, with MODE/bare-lo and MODE/bare-hi, a 95% confidence
//     interval of that median (order statistics); poolscope/nop likewise
//     against the do-nothing recorder;
//   - MODE-cpu-ns/op: CPU time per operation over every round;
//     MODE-added-cpu-ns/op: the mean over rounds of MODE's CPU time per
//     operation minus bare's in the same round, with MODE-added-cpu-ns-ci95
//     (half-width of a 95% confidence interval); poolscope-over-nop-cpu-ns/op
//     likewise against the do-nothing recorder;
//   - loadavg-start, loadavg-end: /proc/loadavg's one-minute figure.
//
// On a shared 2-core machine that drifts by tens of percent from one
// second to the next, only ratios taken tens of milliseconds apart hold
// still, and longer round trips under load hide a fixed CPU cost per
// command: the CPU time per operation is the figure load does not hide.
// "control" is bare again: its distance from 1 is the noise. Run it with
// -benchtime Nx for N rounds.
func BenchmarkOverhead(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	setKeys(b, srv)
	for _, kind := range []struct {
		name     string
		parallel bool
		ops      int
	}{{"sequential", false, 1000}, {"parallel", true, 4000}} {
		b.Run(kind.name, func(b *testing.B) {
			// Reported at the end: b.Loop's start clears reported metrics.
			loadStart := loadAverage(b)
			var rounds []overheadRound
			// Each mode's timed workload since its last collection.
			sinceCollect := make([]time.Duration, len(overheadModes))
			// A new order every round: with a fixed rotation each mode
			// always follows the same one, whose after-effects (closing
			// its pools and providers) then bias it.
			order := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				r := make(overheadRound, len(overheadModes))
				for _, m := range order.Perm(len(overheadModes)) {
					collect := overheadModes[m].collects && sinceCollect[m] >= collectEvery
					if collect {
						sinceCollect[m] = 0
					}
					r[m] = benchSlice(b, srv, overheadModes[m], kind.parallel, kind.ops, collect)
					sinceCollect[m] += time.Duration(r[m].nsOp * float64(kind.ops))
				}
				rounds = append(rounds, r)
			}
			reportOverhead(b, rounds)
			b.ReportMetric(loadStart, "loadavg-start")
			b.ReportMetric(loadAverage(b), "loadavg-end")
		})
	}
}

// overheadRound holds one round's slices, by mode.
type overheadRound []sliceCost

// sliceCost is one slice: wall and CPU time per operation.
type sliceCost struct{ nsOp, cpuNsOp float64 }

// benchSlice runs ops operations in mode on fresh pools and returns their
// wall and CPU time per operation. With collect, the mode's reader is
// collected once while the workload runs.
func benchSlice(b *testing.B, srv *redisserver.Server, mode benchMode, parallel bool, ops int, collect bool) sliceCost {
	ctx := context.Background()
	bc := openCase(b, srv, mode)
	defer bc.close()
	workers := 1
	if parallel {
		workers = 4 * runtime.GOMAXPROCS(0) // as b.SetParallelism(4)
	}
	run := func(n int) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for k := range n / workers {
					op(ctx, b, bc.c, w*n+k)
				}
			})
		}
		wg.Wait()
	}
	run(8 * workers) // dial and warm every connection the slice needs
	if collect {
		// A long-running program's collections find their series and
		// the SDK's aggregation storage built: the timed collection
		// below is one of those, not the fresh pools' first.
		collectOnce(ctx, b, bc.reader)
	}
	// Collect the set-up's garbage (pools, meter provider, instruments)
	// now, so that no mode pays for its set-up in its timed slice.
	runtime.GC()
	cpu0, start := processCPU(b), time.Now()
	var collected sync.WaitGroup
	if collect {
		collected.Go(func() { collectOnce(ctx, b, bc.reader) })
	}
	run(ops)
	collected.Wait()
	elapsed, cpu := time.Since(start), processCPU(b)-cpu0
	return sliceCost{nsOp: float64(elapsed) / float64(ops), cpuNsOp: float64(cpu) / float64(ops)}
}

func collectOnce(ctx context.Context, b *testing.B, reader *sdkmetric.ManualReader) {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		b.Error(err)
	}
}
