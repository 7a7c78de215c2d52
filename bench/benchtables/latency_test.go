package benchtables_test

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

// latencyMode is one way of running the client, as in instrument's
// BenchmarkOverhead (whose modes live in instrument's test package, out of
// reach from here).
type latencyMode struct {
	name    string
	observe func(b *testing.B, c *redis.Client, mp *sdkmetric.MeterProvider, producer *instrument.Producer) func()
}

var latencyModes = []latencyMode{
	{"bare", func(*testing.B, *redis.Client, *sdkmetric.MeterProvider, *instrument.Producer) func() {
		return func() {}
	}},
	// poolscope with its Producer on the reader, as exporters.New sets it up.
	{"poolscope", func(b *testing.B, c *redis.Client, mp *sdkmetric.MeterProvider, producer *instrument.Producer) func() {
		i, err := instrument.NewClient(c, instrument.WithMeterProvider(mp), instrument.WithProducer(producer))
		if err != nil {
			b.Fatal(err)
		}
		return func() { _ = i.Close() }
	}},
	{"redisotel", func(b *testing.B, c *redis.Client, mp *sdkmetric.MeterProvider, _ *instrument.Producer) func() {
		done := make(chan struct{})
		if err := redisotel.InstrumentMetrics(c, redisotel.WithMeterProvider(mp), redisotel.WithCloseChan(done)); err != nil {
			b.Fatal(err)
		}
		return func() { close(done) }
	}},
	// control is bare again: its distance from bare is the harness's noise.
	{"control", func(*testing.B, *redis.Client, *sdkmetric.MeterProvider, *instrument.Producer) func() {
		return func() {}
	}},
}

var latencyKeys = func() []string {
	keys := make([]string, 64)
	for k := range keys {
		keys[k] = "bench:" + strconv.Itoa(k)
	}
	return keys
}()

const latencyValue = "0123456789abcdef"

// BenchmarkLatency measures the latency of each operation of instrument's
// GET/SET workload (half each, 64 keys, 16-byte values, a go-redis client
// with its default pool: 10 connections per core) through bare go-redis,
// poolscope and redisotel, with 1 and 64 concurrent callers. Every
// iteration is a round: a slice of the workload in each mode, in an order
// rotated from round to round, each on a fresh client warmed up before
// the clock starts (as instrument's BenchmarkOverhead). Reported per mode:
// p50 and p99 over every operation of every round (the time from the call
// to its return, pool wait included), allocations per operation
// (runtime.MemStats.Mallocs around the timed part) and, except for bare,
// the median over rounds of the throughput ratio to bare in the same
// round. With 64 callers the pool's 20 connections make callers wait: that
// wait is part of what they measure. Run with -benchtime Nx for N rounds;
// bench/benchreport prints the table.
func BenchmarkLatency(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	for _, k := range latencyKeys {
		if err := srv.Admin().Set(context.Background(), k, latencyValue, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
	for _, callers := range []int{1, 64} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			// About 20 to 40 ms per slice on loopback: short enough that
			// the machine's drift is the same for every mode of a round,
			// long enough that a slice is not one scheduler hiccup.
			ops := 400
			if callers > 1 {
				ops = 20 * callers
			}
			n := len(latencyModes)
			samples := make([][]time.Duration, n)
			ratios := make([][]float64, n)
			mallocs := make([]uint64, n)
			done := make([]int, n)
			for round := 0; b.Loop(); round++ {
				nsOp := make([]float64, n)
				for k := range n {
					m := (k + round) % n
					s := latencySlice(b, srv, latencyModes[m], callers, ops)
					nsOp[m] = s.nsOp
					samples[m] = append(samples[m], s.latencies...)
					mallocs[m] += s.mallocs
					done[m] += ops
				}
				for m := range n {
					ratios[m] = append(ratios[m], nsOp[0]/nsOp[m])
				}
			}
			for m, mode := range latencyModes {
				slices.Sort(samples[m])
				b.ReportMetric(quantile(samples[m], 0.50), mode.name+"-p50-us")
				b.ReportMetric(quantile(samples[m], 0.99), mode.name+"-p99-us")
				b.ReportMetric(float64(mallocs[m])/float64(done[m]), mode.name+"-allocs/op")
				if m > 0 {
					b.ReportMetric(median(ratios[m]), mode.name+"/bare")
				}
			}
		})
	}
}

// sliceResult is one mode's slice of a round.
type sliceResult struct {
	nsOp      float64
	latencies []time.Duration
	mallocs   uint64
}

// latencySlice runs ops operations with callers goroutines on a fresh
// client in mode, timing each operation.
func latencySlice(b *testing.B, srv *redisserver.Server, mode latencyMode, callers, ops int) sliceResult {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	producer := instrument.NewProducer()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader(sdkmetric.WithProducer(producer))))
	undo := mode.observe(b, c, mp, producer)
	defer func() {
		undo()
		_ = c.Close()
		_ = mp.Shutdown(ctx)
	}()
	per := ops / callers
	lat := make([][]time.Duration, callers)
	for w := range lat {
		lat[w] = make([]time.Duration, 0, max(per, 8))
	}
	run := func(per int, timed bool) {
		var wg sync.WaitGroup
		for w := range callers {
			wg.Go(func() {
				for k := range per {
					key := latencyKeys[(w*per+k)%len(latencyKeys)]
					start := time.Now()
					var err error
					if k%2 == 0 {
						err = c.Set(ctx, key, latencyValue, 0).Err()
					} else {
						err = c.Get(ctx, key).Err()
					}
					if timed {
						lat[w] = append(lat[w], time.Since(start))
					}
					if err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}
	run(8, false) // dial and warm every connection the slice needs
	// Collect the set-up's garbage now, so that no mode pays for its
	// set-up in its timed slice.
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	run(per, true)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&m1)
	out := sliceResult{nsOp: float64(elapsed) / float64(per*callers), mallocs: m1.Mallocs - m0.Mallocs}
	for _, l := range lat {
		out.latencies = append(out.latencies, l...)
	}
	return out
}

// quantile of sorted durations, in microseconds (nearest rank).
func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Microsecond)
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
