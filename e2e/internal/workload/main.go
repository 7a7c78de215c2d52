// Command workload is the application the end-to-end test (package e2e)
// runs: a small service that uses poolscope the way a real one does. It
// opens its pools with pools.FromEnv (REDIS_* variables, Sentinel
// included), observes them with instrument.New and exports the metrics
// through exporters.New, configured only by the standard OTEL_* variables.
//
// While busy it writes to the master pool (commands, pipelines and
// PUBLISH), reads from the replica pool, pushes and pops a queue on the
// async pool (BRPOP, so the server sees blocked clients), counts on the
// local pool, and holds one pub/sub subscription on the master pool.
//
// It is driven by one-word commands on stdin and answers each with one JSON
// line on stdout:
//
//	(at start)  {"event":"ready", "pid":..., "pools":{...}}
//	quiet       stops the traffic and answers once every command has returned
//	busy        starts the traffic again
//	stats       {"event":"stats", "pools":{"master":{"name":..., "regular":..., ...}}}
//	callers N   runs N more callers of the master pool that never pause
//	            (0 stops them), besides the traffic above: the load of the
//	            advise closed loop (e2e/advise_test.go)
//
// End of stdin, SIGINT or SIGTERM stop it: the traffic ends, the pools and
// the instrumentation close and the last metrics are flushed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/e2e/internal/wire"
	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/pools"
)

func main() { os.Exit(run()) }

func run() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The pipeline carries instrument's lock-free duration histograms on
	// its own, as for a program that follows the README.
	pipeline, err := exporters.New(ctx, exporters.WithDefaultServiceName("e2e-workload"))
	if err != nil {
		logger.Error("metric pipeline", "err", err)
		return 2
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pipeline.Shutdown(sctx); err != nil {
			logger.Error("metric pipeline shutdown", "err", err)
		}
	}()

	p, err := pools.FromEnv(pools.WithLogger(logger))
	if err != nil {
		logger.Error("pools", "err", err)
		return 2
	}
	defer p.Close()

	// Every metric, command latency (off by default) included: advise
	// reads it, and the whole path is what the e2e test proves.
	inst, err := instrument.New(p, instrument.WithMeterProvider(pipeline.MeterProvider()), instrument.WithCommandLatency(true))
	if err != nil {
		logger.Error("instrument", "err", err)
		return 1
	}
	defer inst.Close()

	t := newTraffic(p, logger)
	subscriber := t.subscribe(ctx)
	defer subscriber.Close()
	t.start()
	defer t.stop()
	c := &callers{p: p}
	defer c.set(0)

	out := json.NewEncoder(os.Stdout)
	reply := func(r wire.Reply) {
		if err := out.Encode(r); err != nil {
			logger.Error("stdout", "err", err)
		}
	}
	reply(wire.Reply{Event: "ready", Pid: os.Getpid(), Pools: counts(p)})

	commands := make(chan string)
	go func() {
		defer close(commands)
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			select {
			case commands <- in.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return 0
		case cmd, ok := <-commands:
			if !ok {
				return 0
			}
			if n, ok := strings.CutPrefix(cmd, "callers "); ok {
				reply(c.command(n))
				continue
			}
			switch cmd {
			case "quiet":
				t.stop()
				reply(wire.Reply{Event: "quiet"})
			case "busy":
				t.start()
				reply(wire.Reply{Event: "busy"})
			case "stats":
				reply(wire.Reply{Event: "stats", Pid: os.Getpid(), Pools: counts(p), Errors: t.errorCounts()})
			default:
				reply(wire.Reply{Event: "error", Error: fmt.Sprintf("workload: unknown command %q (want quiet, busy or stats)", cmd)})
			}
		}
	}
}

// counts reads every role's PoolStats.
func counts(p *pools.Pools) map[string]wire.PoolCounts {
	m := make(map[string]wire.PoolCounts, len(pools.Roles))
	for _, r := range pools.Roles {
		c := wire.PoolCounts{Name: p.ClientName(r)}
		for _, client := range p.Clients(r) {
			s := client.PoolStats()
			c.Regular += int(s.TotalConns)
			if s.PipelineStats != nil {
				c.Pipeline += int(s.PipelineStats.TotalConns)
			}
			c.PubSub += int(s.PubSubStats.Active)
		}
		c.Total = c.Regular + c.Pipeline + c.PubSub
		m[string(r)] = c
	}
	return m
}

// traffic runs the workload's goroutines; start and stop may be called
// repeatedly (stop waits until every command in flight has returned).
type traffic struct {
	p      *pools.Pools
	logger *slog.Logger

	mu   sync.Mutex
	quit chan struct{} // nil while stopped
	wg   sync.WaitGroup

	errs   sync.Map // role -> *atomic.Int64
	logged sync.Map // role -> struct{}: the first error of each role is logged
}

func newTraffic(p *pools.Pools, logger *slog.Logger) *traffic {
	return &traffic{p: p, logger: logger}
}

// The traffic's shape. The master pool is capped at REDIS_MASTER_POOL_SIZE
// (the test sets 4), so six writers make callers wait for a connection.
const (
	writers        = 6
	readers        = 4
	localWorkers   = 2
	queueConsumers = 2
	commandTimeout = 2 * time.Second
	// pause between two commands of one goroutine: keeps the workload at a
	// few thousand commands per second, light on a shared 2-core machine.
	pause = 3 * time.Millisecond
	// after an error (a server that is down), wait longer before retrying.
	errorPause = 200 * time.Millisecond
	queueKey   = "e2e:queue"
	channel    = "e2e:events"
)

func (t *traffic) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quit != nil {
		return
	}
	quit := make(chan struct{})
	t.quit = quit
	loop := func(role pools.Role, n int, step func(ctx context.Context, i int) error) {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
				err := step(ctx, n*1_000_000+i)
				cancel()
				wait := pause
				if err != nil && !errors.Is(err, redis.Nil) {
					t.recordError(role, err)
					wait = errorPause
				}
				select {
				case <-quit:
					return
				case <-time.After(wait):
				}
			}
		}()
	}
	for w := 0; w < writers; w++ {
		loop(pools.Master, w, t.write)
	}
	for r := 0; r < readers; r++ {
		loop(pools.Replica, r, t.read)
	}
	for l := 0; l < localWorkers; l++ {
		loop(pools.Local, l, t.count)
	}
	loop(pools.Async, 0, t.push)
	for c := 0; c < queueConsumers; c++ {
		loop(pools.Async, c, t.pop)
	}
}

func (t *traffic) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quit == nil {
		return
	}
	close(t.quit)
	t.quit = nil
	t.wg.Wait()
}

func (t *traffic) recordError(role pools.Role, err error) {
	v, _ := t.errs.LoadOrStore(string(role), new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if _, seen := t.logged.LoadOrStore(string(role), struct{}{}); !seen {
		t.logger.Warn("command failed (later failures of this pool are only counted)", "pool", role, "err", err)
	}
}

func (t *traffic) errorCounts() map[string]int64 {
	m := map[string]int64{}
	t.errs.Range(func(k, v any) bool {
		m[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

// write is the master pool's work: a SET and an INCR, every 10th time a
// pipeline of five commands, every 20th time a PUBLISH.
func (t *traffic) write(ctx context.Context, i int) error {
	m := t.p.Master()
	key := "e2e:key:" + strconv.Itoa(i%100)
	if err := m.Set(ctx, key, i, time.Minute).Err(); err != nil {
		return err
	}
	if err := m.Incr(ctx, "e2e:writes").Err(); err != nil {
		return err
	}
	if i%10 == 0 {
		_, err := m.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for j := 0; j < 5; j++ {
				pipe.HSet(ctx, "e2e:hash", strconv.Itoa((i+j)%50), i)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if i%20 == 0 {
		return m.Publish(ctx, channel, i).Err()
	}
	return nil
}

// read is the replica pool's work.
func (t *traffic) read(ctx context.Context, i int) error {
	return t.p.Replica().Get(ctx, "e2e:key:"+strconv.Itoa(i%100)).Err()
}

// count is the local pool's work.
func (t *traffic) count(ctx context.Context, i int) error {
	return t.p.Local().Incr(ctx, "e2e:local:"+strconv.Itoa(i%10)).Err()
}

// push and pop are the async pool's work: a queue whose consumers block in
// BRPOP for up to a second.
func (t *traffic) push(ctx context.Context, i int) error {
	return t.p.Async().LPush(ctx, queueKey, i).Err()
}

func (t *traffic) pop(ctx context.Context, _ int) error {
	err := t.p.Async().BRPop(ctx, time.Second, queueKey).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// subscribe holds one subscription on the master pool for the process's
// life, draining its messages.
func (t *traffic) subscribe(ctx context.Context) *redis.PubSub {
	sub := t.p.Master().Subscribe(ctx, channel)
	go func() {
		for range sub.Channel() {
		}
	}()
	return sub
}

// callers are the master pool's callers that never pause, as many as the
// last "callers N" said.
type callers struct {
	p    *pools.Pools
	quit chan struct{} // nil while none run
	wg   sync.WaitGroup
}

// command runs "callers N" and returns its reply.
func (c *callers) command(arg string) wire.Reply {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 || n > 1000 {
		return wire.Reply{Event: "error", Error: fmt.Sprintf("workload: callers %q: want 0 to 1000", arg)}
	}
	c.set(n)
	return wire.Reply{Event: "callers"}
}

// set stops the running callers (waiting for their commands) and starts n.
func (c *callers) set(n int) {
	if c.quit != nil {
		close(c.quit)
		c.wg.Wait()
		c.quit = nil
	}
	if n == 0 {
		return
	}
	quit := make(chan struct{})
	c.quit = quit
	for range n {
		c.wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
				_ = c.p.Master().Get(ctx, "e2e:callers").Err() // redis.Nil, or a timeout the metrics count
				cancel()
			}
		})
	}
}
