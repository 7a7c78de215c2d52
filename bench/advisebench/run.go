package advisebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/poolscope/poolscope/advise"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/pools"
)

// memoryPerConnection is what `poolscope advise` assumes (make memtable's
// 15 to 17 KiB per plain connection, rounded up); it only feeds the cost
// columns.
const memoryPerConnection = 20 << 10

// Run is one shape run at one master pool size.
type Run struct {
	Size   int
	P99    time.Duration // callers' end-to-end latency p99 (pool wait + command)
	Calls  int
	Errors int
	// Pool is the run's metrics as poolscope advise's observation.
	Pool advise.Pool
}

// runShape runs sh against the server at url with the master pool at size and returns
// its latency and metrics. The callers run for s.Warmup unmeasured (the
// pool dials), then for s.Duration, scraped every s.Step.
func runShape(ctx context.Context, url string, server *redis.Client, sh Shape, size int, s Settings) (Run, error) {
	p, err := openPools(url, size)
	if err != nil {
		return Run{}, err
	}
	defer p.Close()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	inst, err := instrument.New(p, instrument.WithMeterProvider(mp), instrument.WithCommandLatency(true))
	if err != nil {
		return Run{}, err
	}
	defer inst.Close()
	// One command before the callers start, as a service's pool has served
	// before it is under load (and as the runs in docs/advise.md did).
	if err := p.Master().Ping(ctx).Err(); err != nil {
		return Run{}, fmt.Errorf("advisebench: %s: PING: %w", sh.Name, err)
	}
	if sh.Setup != nil {
		if err := sh.Setup(ctx, p.Master()); err != nil {
			return Run{}, fmt.Errorf("advisebench: %s: setup: %w", sh.Name, err)
		}
	}
	c := newCallers(sh, p)
	c.start(ctx)
	scrapes, err := c.observe(ctx, reader, server, s)
	lat, calls, errs := c.stop()
	if err != nil {
		return Run{}, err
	}
	if calls == 0 {
		return Run{}, fmt.Errorf("%w: %s at size %d (%d errors)", errNoCalls, sh.Name, size, errs)
	}
	r := Run{Size: size, P99: p99(lat), Calls: calls, Errors: errs}
	r.Pool = observation(sh, size, s.Step, scrapes)
	return r, nil
}

// openPools opens the master pool at size against url; the other roles
// are off so that only the shape's callers use the server.
func openPools(url string, size int) (*pools.Pools, error) {
	env := map[string]string{
		"OTEL_SERVICE_NAME": "advisebench", "REDIS_MASTER_URL": url, "REDIS_LOCAL_URL": url,
		"REDIS_MASTER_POOL_SIZE":     strconv.Itoa(size),
		"REDIS_REPLICA_POOL_ENABLED": "0", "REDIS_LOCAL_POOL_ENABLED": "0", "REDIS_ASYNC_POOL_ENABLED": "0",
	}
	cfg, err := pools.LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	return pools.New(cfg, pools.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

// callers runs a shape's goroutines and gathers their latencies once
// measuring is on.
type callers struct {
	sh        Shape
	p         *pools.Pools
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	measuring atomic.Bool
	mu        sync.Mutex
	latencies []time.Duration
	calls     int
	errors    int
}

func newCallers(sh Shape, p *pools.Pools) *callers { return &callers{sh: sh, p: p} }

func (c *callers) start(ctx context.Context) {
	ctx, c.cancel = context.WithCancel(ctx)
	for range c.sh.Callers {
		c.wg.Go(func() { c.loop(ctx) })
	}
}

func (c *callers) loop(ctx context.Context) {
	var mine []time.Duration
	errs := 0
	client := c.p.Master()
	for ctx.Err() == nil {
		d, err := c.sh.Call(ctx, client)
		switch {
		case !c.measuring.Load() || ctx.Err() != nil:
		case err != nil:
			errs++
		default:
			mine = append(mine, d)
		}
	}
	c.mu.Lock()
	c.latencies = append(c.latencies, mine...)
	c.calls += len(mine)
	c.errors += errs
	c.mu.Unlock()
}

// observe waits out the warm-up, then scrapes every step for the
// duration: the first scrape is the intervals' start.
func (c *callers) observe(ctx context.Context, r *sdkmetric.ManualReader, server *redis.Client, s Settings) ([]scrape, error) {
	think(ctx, s.Warmup)
	c.measuring.Store(true)
	var out []scrape
	tick := time.NewTicker(s.Step)
	defer tick.Stop()
	for i := 0; ; i++ {
		sc, err := collect(ctx, r, server, "master")
		if err != nil {
			return nil, fmt.Errorf("advisebench: collect: %w", err)
		}
		out = append(out, sc)
		if time.Duration(i)*s.Step >= s.Duration {
			c.measuring.Store(false)
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func (c *callers) stop() ([]time.Duration, int, int) {
	c.cancel()
	c.wg.Wait()
	return c.latencies, c.calls, c.errors
}

// p99 is the 99th percentile of the latencies (nearest rank); 0 for none.
func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, int(math.Ceil(0.99*float64(len(lat))))-1)]
}

// observation is the run's scrapes as `poolscope advise` reads them from
// Prometheus (advise.Pool.WithSamples: one interval per step, the wait p99
// and the demand callers found over the window, the server's busy share
// per step), with the peak demand from the recorded per-interval
// high-water mark (redis.client.connection.demand.max, as the CLI's
// max_over_time reads it), or the gauges sampled at the scrapes where it is
// not recorded (used + pending counts a caller twice for an instant, so
// the CLI samples them only for processes without the mark).
func observation(sh Shape, size int, step time.Duration, scrapes []scrape) advise.Pool {
	p := advise.Pool{
		Service: "advisebench-" + sh.Name, Name: "master", Processes: 1, Max: size, Step: step,
		PeakDemand: 0, OpenMean: math.NaN(), Timeouts: math.NaN(), MemoryPerConnection: memoryPerConnection,
	}
	samples := make([]advise.Sample, len(scrapes))
	sampled := 0.0
	for i, s := range scrapes {
		p.PeakDemand, sampled = max(p.PeakDemand, s.demandMax), max(sampled, s.used+s.pending)
		samples[i] = s.Sample
	}
	p.PeakRecorded = p.PeakDemand > 0
	if !p.PeakRecorded { // not recorded: the gauges, as the CLI falls back to
		p.PeakDemand = sampled
	}
	return p.WithSamples(samples)
}

var errNoCalls = errors.New("advisebench: no call completed")
