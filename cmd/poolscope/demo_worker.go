package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/pools"
)

// demo-worker is the child process `poolscope demo` starts: a small
// application that opens the pools from the environment the demo gives it,
// instruments them, serves its metrics on a Prometheus endpoint of its own
// and runs a workload until SIGINT/SIGTERM. Its one line on stdout tells the
// demo where the endpoint is.
func init() {
	register("demo-worker", command{run: runDemoWorker}) // no summary: internal
}

// workerHello is the line a worker prints on stdout once it serves metrics.
type workerHello struct {
	Pid     int    `json:"pid"`
	Metrics string `json:"metrics"` // host:port of the worker's /metrics
}

func runDemoWorker(ctx context.Context, e env) int {
	fs := flag.NewFlagSet("poolscope demo-worker", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	components := fs.Int("components", 10, "clients each role's code asks for (shared when pooled)")
	concurrency := fs.Int("concurrency", 4, "concurrent callers per component")
	if err := fs.Parse(e.args); err != nil {
		return exitUsage
	}
	redislog.Route(slog.New(slog.NewTextHandler(io.Discard, nil)))

	// The demo sets OTEL_METRICS_EXPORTER=prometheus and port 0 in our
	// environment: any free loopback port, reported below.
	// The pipeline's readers carry instrument's lock-free duration
	// histograms (a few atomic adds per measurement) on their own.
	pipeline, code, err := newPipeline(ctx, e, "demo-worker")
	if err != nil {
		printErrors(e.stderr, err)
		return code
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = pipeline.Shutdown(sctx)
	}()

	p, err := pools.LoadConfig(e.lookup)
	if err != nil {
		printErrors(e.stderr, err)
		return exitUsage
	}
	// Unpooled, each component gets a client of its own, with go-redis's
	// default pool, as in code written before pooling: as many legacy
	// clients as components.
	pl, err := pools.New(p, pools.WithLegacyClients(*components), pools.WithLogger(slog.New(slog.NewTextHandler(e.stderr, nil))))
	if err != nil {
		printErrors(e.stderr, err)
		return exitUsage
	}
	defer pl.Close()
	// Command latency on: advise compares it between quiet and busy times
	// to tell a busy server from a small pool.
	inst, err := instrument.New(pl, instrument.WithMeterProvider(pipeline.MeterProvider()),
		instrument.WithCommandLatency(true))
	if err != nil {
		fmt.Fprintln(e.stderr, "demo-worker:", err)
		return exitFail
	}
	defer inst.Close()

	var wg sync.WaitGroup
	for _, role := range pools.Roles {
		for i := 0; i < *components; i++ {
			// Each component asks for its own client, as code written
			// without shared pools does; enabled pools hand out one,
			// disabled ones a legacy client per component.
			c := pl.Client(role)
			for j := 0; j < *concurrency; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					workload(ctx, c, role)
				}()
			}
		}
	}
	_ = json.NewEncoder(e.stdout).Encode(workerHello{Pid: os.Getpid(), Metrics: pipeline.PrometheusAddr()})
	<-ctx.Done()
	wg.Wait()
	return exitOK
}

// workload sends a mix that suits the role: writes on master and async,
// reads on the replica and local pools, every tenth operation a pipeline,
// with short random pauses so that pools are busy but not saturated.
func workload(ctx context.Context, c *redis.Client, role pools.Role) {
	key := fmt.Sprintf("demo:%s:%d", role, rand.IntN(100))
	for n := 0; ctx.Err() == nil; n++ {
		var err error
		switch {
		case n%10 == 9:
			_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, key+":n")
				p.Expire(ctx, key+":n", time.Minute)
				return nil
			})
		case role == pools.Master || role == pools.Async:
			err = c.Set(ctx, key, rand.Int(), time.Minute).Err()
		default:
			err = c.Get(ctx, key).Err()
		}
		if err != nil && err != redis.Nil && ctx.Err() == nil {
			// A failing server shows in the table's timeouts and misses;
			// back off instead of spinning.
			sleepCtx(ctx, 100*time.Millisecond)
		}
		sleepCtx(ctx, time.Duration(rand.IntN(4000))*time.Microsecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
