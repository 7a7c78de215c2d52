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

	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/pools"
)

// demo-worker is the child process `poolscope demo` starts: it opens the
// pools from the environment the demo gives it, runs a workload through
// them and prints one JSON line of pool figures per second on stdout.
func init() {
	register("demo-worker", command{run: runDemoWorker}) // no summary: internal
}

// workerReport is one line of a worker's stdout.
type workerReport struct {
	Pid     int          `json:"pid"`
	Service string       `json:"service"`
	Pools   []poolReport `json:"pools"`
}

type poolReport struct {
	Role     string `json:"role"`
	Shared   bool   `json:"shared"`
	Clients  int    `json:"clients"`
	Max      int    `json:"max"`
	Total    uint32 `json:"total"`
	Idle     uint32 `json:"idle"`
	Used     uint32 `json:"used"`
	Waits    uint32 `json:"waits"`
	Timeouts uint32 `json:"timeouts"`
	Hits     uint32 `json:"hits"`
	Misses   uint32 `json:"misses"`
	// WaitMeanMS is the mean wait for a connection since start.
	WaitMeanMS float64 `json:"wait_mean_ms"`
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
	p, err := pools.FromEnv(pools.WithLogger(slog.New(slog.NewTextHandler(e.stderr, nil))))
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	defer p.Close()

	var wg sync.WaitGroup
	for _, role := range pools.Roles {
		for i := 0; i < *components; i++ {
			// Each component asks for its own client, as code written
			// without shared pools does; enabled pools hand out one.
			c := p.Client(role)
			for j := 0; j < *concurrency; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					workload(ctx, c, role)
				}()
			}
		}
	}

	enc := json.NewEncoder(e.stdout)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		_ = enc.Encode(report(p))
		select {
		case <-ctx.Done():
			wg.Wait()
			return exitOK
		case <-ticker.C:
		}
	}
}

// workload sends a mix that suits the role: writes on master and async,
// reads on the replica and local pools, with short random pauses so that
// pools are busy but not saturated.
func workload(ctx context.Context, c *redis.Client, role pools.Role) {
	key := fmt.Sprintf("demo:%s:%d", role, rand.IntN(100))
	for ctx.Err() == nil {
		var err error
		switch role {
		case pools.Master, pools.Async:
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

func report(p *pools.Pools) workerReport {
	cfg := p.Config()
	r := workerReport{Pid: os.Getpid(), Service: cfg.Service}
	for _, role := range pools.Roles {
		pr := poolReport{Role: string(role), Shared: p.Shared(role)}
		if pr.Shared {
			pr.Max = cfg.Role(role).Max
		}
		var waitNs int64
		for _, c := range p.Clients(role) {
			s := c.PoolStats()
			pr.Clients++
			pr.Total += s.TotalConns
			pr.Idle += s.IdleConns
			pr.Waits += s.WaitCount
			pr.Timeouts += s.Timeouts
			pr.Hits += s.Hits
			pr.Misses += s.Misses
			waitNs += s.WaitDurationNs
		}
		pr.Used = pr.Total - min(pr.Idle, pr.Total)
		if pr.Waits > 0 {
			pr.WaitMeanMS = float64(waitNs) / float64(pr.Waits) / 1e6
		}
		r.Pools = append(r.Pools, pr)
	}
	return r
}
