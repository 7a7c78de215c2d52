package memtable

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/pools"
)

// Environment variables through which the parent starts and configures a
// worker. They are internal to memtable: a user never sets them.
const (
	envWorker      = "POOLSCOPE_MEMTABLE_WORKER"       // "pools", "conns" or "slots"
	envWorkload    = "POOLSCOPE_MEMTABLE_WORKLOAD"     // Workload as JSON (pools workers)
	envPoolSize    = "POOLSCOPE_MEMTABLE_POOL_SIZE"    // PoolSize of the conns sweep's client
	envSlotClients = "POOLSCOPE_MEMTABLE_SLOT_CLIENTS" // clients per step of the slots sweep
	envMaintOff    = "POOLSCOPE_MEMTABLE_MAINT_OFF"    // "1": slots sweep with maintenance notifications off
)

// Worker kinds (the values of POOLSCOPE_MEMTABLE_WORKER).
const (
	kindPools = "pools" // the N-worker runs
	kindConns = "conns" // the per-connection sweep
	kindSlots = "slots" // the pool-slot sweep
)

// Service is the service part of the workers' client names
// ("memtable-worker:master:PID"); the parent groups CLIENT LIST by the pid.
const workerService = "memtable-worker"

// steadyLine is what a worker prints on stdout once its workload is done
// (pools workers) or a sweep step is in place (sweep workers), prefixed by
// "steady ". The parent samples the worker after reading it.
type steadyLine struct {
	Pid int `json:"pid"`
	// Clients is the number of distinct go-redis clients the worker holds.
	Clients int `json:"clients"`
	// Conns is the worker's own count of its connections (every client's
	// main and pipeline pools; the health checks' are not included).
	Conns int `json:"conns"`
	// PipelineConns is the part of Conns in the clients' dedicated
	// pipeline pools.
	PipelineConns int `json:"pipeline_conns"`
	// Slots is the pool slots configured (slots sweep).
	Slots int `json:"slots,omitempty"`
	// Commands and Errors count the workload's commands.
	Commands int64 `json:"commands,omitempty"`
	Errors   int64 `json:"errors,omitempty"`
	// Unsettled lists what had not settled when the worker gave up waiting
	// (see awaitSettled); empty normally.
	Unsettled []string `json:"unsettled,omitempty"`
	// ElapsedMS is how long the workload or the step took.
	ElapsedMS int64 `json:"elapsed_ms"`
	// HeapInuse is runtime.MemStats.HeapInuse when the line was written.
	HeapInuse uint64 `json:"heap_inuse"`
}

// WorkerMain runs the worker when the process was started as one
// (POOLSCOPE_MEMTABLE_WORKER is set) and returns its exit code with ok
// true; otherwise it returns ok false at once. The memtable command and
// the package's tests call it first thing, so that the running binary can
// be re-executed as a worker.
func WorkerMain() (code int, ok bool) {
	kind, ok := os.LookupEnv(envWorker)
	if !ok {
		return 0, false
	}
	// go-redis logs dial retries through its own logger; a worker's stderr
	// is for its errors.
	redislog.Route(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var err error
	switch kind {
	case kindPools:
		err = runPoolsWorker(os.Stdin, os.Stdout)
	case kindConns:
		err = runConnsWorker(os.Stdin, os.Stdout)
	case kindSlots:
		err = runSlotsWorker(os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("%s=%q: want %s, %s or %s", envWorker, kind, kindPools, kindConns, kindSlots)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "memtable worker:", err)
		return 1, true
	}
	return 0, true
}

// runPoolsWorker is one process of the N-worker runs. It opens the pools
// from the REDIS_* variables the parent set (every flag 0 or every flag
// 1), asks them for K master clients, runs the workload on all of them at
// once, waits until the pools' own connections are in place
// (awaitSettled), prints "steady", and holds every connection until "exit"
// or the end of stdin.
//
// The workload: on each client, Goroutines goroutines run Rounds rounds
// each. A round is SET of the goroutine's own key (a ValueSize value, 60 s
// expiry) then GET of it; every PipelineEvery-th round (the first
// included) adds a pipeline of INCR, EXPIRE and GET on a per-client
// counter. Disabled, each client is a separate go-redis client with its
// defaults (PoolSize 10 x GOMAXPROCS, a dedicated pipeline pool of up to
// 10 connections with 128 KiB buffers), so its pools grow to the
// goroutines' concurrency; enabled, all K share the master pool capped at
// REDIS_MASTER_POOL_SIZE (10).
func runPoolsWorker(in io.Reader, out io.Writer) error {
	var w Workload
	if err := json.Unmarshal([]byte(os.Getenv(envWorkload)), &w); err != nil {
		return fmt.Errorf("%s: %w", envWorkload, err)
	}
	cfg, err := pools.ConfigFromEnv()
	if err != nil {
		return err
	}
	// Disabled, each of the K clients is a legacy client of its own
	// (go-redis's defaults), as K components made them before pooling.
	p, err := pools.New(cfg, pools.WithLegacyClients(w.Clients),
		pools.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		return err
	}
	defer p.Close() // closes the legacy clients too

	clients := make([]*redis.Client, w.Clients)
	for i := range clients {
		clients[i] = p.Master()
	}

	start := time.Now()
	commands, errs, firstErr := runWorkload(clients, w)
	if errs == commands {
		return fmt.Errorf("every one of the workload's %d commands failed; the first: %v", commands, firstErr)
	}
	unsettled := awaitSettled(p, settleTimeout)
	distinct := map[*redis.Client]bool{}
	conns, pipelined := 0, 0
	for _, c := range clients {
		if distinct[c] {
			continue
		}
		distinct[c] = true
		conns += poolConns(c)
		if ps := c.PoolStats().PipelineStats; ps != nil {
			pipelined += int(ps.TotalConns)
		}
	}
	if err := writeSteady(out, steadyLine{
		Clients: len(distinct), Conns: conns, PipelineConns: pipelined, Commands: commands, Errors: errs, Unsettled: unsettled,
		ElapsedMS: time.Since(start).Milliseconds(),
	}); err != nil {
		return err
	}
	return waitExit(in)
}

// settleTimeout bounds how long a worker waits, after its workload, for
// the connections the pools open by themselves. A health check that fails
// on a loaded machine is retried only after the 10 s interval.
const settleTimeout = 2 * time.Minute

// awaitSettled waits until the connections the pools open on their own are
// in place: every role's health check has succeeded once (so its
// connection is open) and every enabled pool holds its MIN idle
// connections (the async pool's 5). Without it, a worker sampled on a
// loaded machine could miss connections that it holds a moment later. It
// returns what had not settled when timeout passed.
func awaitSettled(p *pools.Pools, timeout time.Duration) []string {
	cfg := p.Config()
	deadline := time.Now().Add(timeout)
	for {
		var pending []string
		for _, r := range pools.Roles {
			if h := p.Health(r); !h.Checked || !h.Healthy {
				pending = append(pending, string(r)+" health check")
			}
			if rc := cfg.Role(r); rc.Enabled && rc.MinIdle > 0 && poolConns(p.Client(r)) < rc.MinIdle {
				pending = append(pending, string(r)+" pool warm-up")
			}
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			return pending
		}
		time.Sleep(20 * time.Millisecond) // polling the worker's own state; nothing to wait on
	}
}

// runWorkload runs the workload described on runPoolsWorker and returns
// the number of commands, of failed ones, and the first error.
func runWorkload(clients []*redis.Client, w Workload) (commands, failed int64, first error) {
	ctx := context.Background()
	value := strings.Repeat("x", w.ValueSize)
	pid := strconv.Itoa(os.Getpid())
	var nCmd, nErr atomic.Int64
	var once sync.Once
	fail := func(err error) {
		if err != nil && !errors.Is(err, redis.Nil) {
			nErr.Add(1)
			once.Do(func() { first = err })
		}
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		counter := "memtable:" + pid + ":" + strconv.Itoa(i) + ":n"
		for g := range w.Goroutines {
			key := "memtable:" + pid + ":" + strconv.Itoa(i) + ":" + strconv.Itoa(g)
			wg.Go(func() {
				for r := range w.Rounds {
					fail(c.Set(ctx, key, value, time.Minute).Err())
					fail(c.Get(ctx, key).Err())
					nCmd.Add(2)
					if w.PipelineEvery > 0 && r%w.PipelineEvery == 0 {
						_, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
							pipe.Incr(ctx, counter)
							pipe.Expire(ctx, counter, time.Minute)
							pipe.Get(ctx, key)
							return nil
						})
						fail(err)
						nCmd.Add(3)
					}
				}
			})
		}
	}
	wg.Wait()
	return nCmd.Load(), nErr.Load(), first
}

// poolConns is a client's open connections: its main pool's and its
// pipeline pool's.
func poolConns(c *redis.Client) int {
	s := c.PoolStats()
	n := int(s.TotalConns)
	if s.PipelineStats != nil {
		n += int(s.PipelineStats.TotalConns)
	}
	return n
}

// runConnsWorker is the per-connection sweep: one go-redis client with
// default options except PoolSize (large enough for every step), and
// dedicated connections (Client.Conn) that each did one SET and one GET.
// At "conns N" it opens or closes connections until it holds N, runs a
// garbage collection and returns freed memory to the kernel (so that RSS
// is what the connections keep, not garbage waiting for the collector),
// and prints "steady".
func runConnsWorker(in io.Reader, out io.Writer) error {
	size, err := strconv.Atoi(os.Getenv(envPoolSize))
	if err != nil || size < 1 {
		return fmt.Errorf("%s=%q: not a positive integer", envPoolSize, os.Getenv(envPoolSize))
	}
	o, err := sweepOptions()
	if err != nil {
		return err
	}
	o.PoolSize = size
	client := redis.NewClient(o)
	defer client.Close()

	ctx := context.Background()
	var held []*redis.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	return serveSteps(in, out, "conns", func(n int) (steadyLine, error) {
		for len(held) < n {
			c := client.Conn()
			key := "memtable:sweep:" + strconv.Itoa(os.Getpid()) + ":" + strconv.Itoa(len(held))
			if err := c.Set(ctx, key, "v", time.Minute).Err(); err != nil {
				_ = c.Close()
				return steadyLine{}, fmt.Errorf("connection %d: %w", len(held)+1, err)
			}
			if err := c.Get(ctx, key).Err(); err != nil {
				_ = c.Close()
				return steadyLine{}, fmt.Errorf("connection %d: %w", len(held)+1, err)
			}
			held = append(held, c)
		}
		for len(held) > n {
			_ = held[len(held)-1].Close()
			held = held[:len(held)-1]
		}
		return steadyLine{Clients: 1, Conns: poolConns(client)}, nil
	})
}

// runSlotsWorker is the pool-slot sweep: at "slots P" it closes the
// previous step's clients and creates SlotClients new go-redis clients
// with PoolSize P and no connection (go-redis dials lazily), collects
// garbage and prints "steady" with the slots configured. With
// POOLSCOPE_MEMTABLE_MAINT_OFF=1 the clients have go-redis's maintenance
// notifications turned off.
func runSlotsWorker(in io.Reader, out io.Writer) error {
	n, err := strconv.Atoi(os.Getenv(envSlotClients))
	if err != nil || n < 1 {
		return fmt.Errorf("%s=%q: not a positive integer", envSlotClients, os.Getenv(envSlotClients))
	}
	o, err := sweepOptions()
	if err != nil {
		return err
	}
	if os.Getenv(envMaintOff) == "1" {
		// go-redis sizes its maintenance-notification handoff queues from
		// PoolSize; this variant shows what a slot costs without them.
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	}
	var clients []*redis.Client
	closeAll := func() {
		for _, c := range clients {
			_ = c.Close()
		}
		clients = clients[:0]
	}
	defer closeAll()
	return serveSteps(in, out, "slots", func(size int) (steadyLine, error) {
		closeAll()
		for range n {
			oc := *o
			oc.PoolSize = size
			clients = append(clients, redis.NewClient(&oc))
		}
		conns := 0
		for _, c := range clients {
			conns += poolConns(c)
		}
		return steadyLine{Clients: n, Conns: conns, Slots: n * size}, nil
	})
}

// sweepOptions are go-redis's defaults for the server of REDIS_MASTER_URL,
// trusting REDIS_TLS_CA_FILE for rediss://, with a poolscope client name
// so that CLIENT LIST attributes the connections to the process.
func sweepOptions() (*redis.Options, error) {
	url := os.Getenv("REDIS_MASTER_URL")
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_MASTER_URL=%q: %w", pools.RedactURL(url), err)
	}
	if o.TLSConfig != nil {
		ca := os.Getenv("REDIS_TLS_CA_FILE")
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE=%q: %w", ca, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE=%q: no PEM certificate", ca)
		}
		o.TLSConfig.RootCAs = roots
		o.TLSConfig.MinVersion = tls.VersionTLS12
	}
	o.ClientName = pools.ClientName(workerService, "sweep", os.Getpid())
	return o, nil
}

// serveSteps reads "VERB N" lines and answers each with the step's steady
// line, after a garbage collection that returns freed memory to the
// kernel. "exit" or the end of input ends it.
func serveSteps(in io.Reader, out io.Writer, verb string, step func(int) (steadyLine, error)) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "exit" {
			return nil
		}
		arg, ok := strings.CutPrefix(line, verb+" ")
		n, err := strconv.Atoi(arg)
		if !ok || err != nil || n < 0 {
			return fmt.Errorf("command %q: want %q with a count, or \"exit\"", line, verb+" N")
		}
		start := time.Now()
		s, err := step(n)
		if err != nil {
			return err
		}
		runtime.GC()
		debug.FreeOSMemory()
		s.ElapsedMS = time.Since(start).Milliseconds()
		if err := writeSteady(out, s); err != nil {
			return err
		}
	}
	return sc.Err()
}

func writeSteady(out io.Writer, s steadyLine) error {
	s.Pid = os.Getpid()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HeapInuse = ms.HeapInuse
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "steady %s\n", b)
	return err
}

// waitExit blocks until "exit" or the end of in.
func waitExit(in io.Reader) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "exit" {
			return nil
		}
	}
	return sc.Err()
}
