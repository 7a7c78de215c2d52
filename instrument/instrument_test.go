package instrument_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// TestConnectionCountMatchesPoolStatsAndServer holds connections of every
// kind and checks db.client.connection.count against go-redis's PoolStats
// and against the server's CLIENT LIST for the pool's client name.
func TestConnectionCountMatchesPoolStatsAndServer(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	tests := []struct {
		name string
		// open returns what to instrument, the client to drive, the pool
		// name and the CLIENT SETNAME name of its connections.
		open func(t *testing.T) (target any, c *redis.Client, poolName, clientName string)
		// wantMax is db.client.connection.max: the cap plus the pipeline pool.
		wantMax int64
	}{
		{
			name: "pools master role",
			open: func(t *testing.T) (any, *redis.Client, string, string) {
				p := openPools(t, srv, map[string]string{"REDIS_MASTER_POOL_SIZE": "4"})
				return p, p.Master(), "master", p.ClientName(pools.Master)
			},
			wantMax: 4 + redis.DefaultPipelinePoolSize,
		},
		{
			name: "plain client",
			open: func(t *testing.T) (any, *redis.Client, string, string) {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ClientName: "instrument-test-plain", PoolSize: 6})
				t.Cleanup(func() { _ = c.Close() })
				return c, c, srv.Addr() + "/0", "instrument-test-plain"
			},
			wantMax: 6 + redis.DefaultPipelinePoolSize,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := redistest.Context(t, waitLong)
			target, c, name, clientName := tt.open(t)
			r := newReader(t)
			r.instrumentT(t, target)

			// Two regular connections held, one idle, one pipeline-pool
			// connection idle, one pub/sub connection.
			for range 2 {
				held := c.Conn()
				t.Cleanup(func() { _ = held.Close() })
				if err := held.Ping(ctx).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Get(ctx, "k")
				p.Get(ctx, "k")
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sub := c.Subscribe(ctx, "instrument-test")
			t.Cleanup(func() { _ = sub.Close() })
			if _, err := sub.Receive(ctx); err != nil {
				t.Fatal(err)
			}

			s := r.collect(t)
			st := c.PoolStats()
			p := pool(name)
			want := []struct {
				attrs []attribute.KeyValue
				value int64
			}{
				{state("used", "regular"), int64(st.TotalConns - st.IdleConns)},
				{state("idle", "regular"), int64(st.IdleConns)},
				{state("used", "pipeline"), int64(st.PipelineStats.TotalConns - st.PipelineStats.IdleConns)},
				{state("idle", "pipeline"), int64(st.PipelineStats.IdleConns)},
				{state("used", "pubsub"), int64(st.PubSubStats.Active)},
			}
			var total int64
			for _, w := range want {
				got, ok := s.int64("db.client.connection.count", append(w.attrs, p)...)
				if !ok || got != w.value {
					t.Errorf("db.client.connection.count%s = %d (reported %v), PoolStats say %d", attrString(w.attrs), got, ok, w.value)
				}
				total += got
			}
			if used, _ := s.int64("db.client.connection.count", append(state("used", "regular"), p)...); used != 2 {
				t.Errorf("regular used = %d, want the 2 held connections", used)
			}
			if got, _ := s.int64("db.client.connection.count", append(state("used", "pubsub"), p)...); got != 1 {
				t.Errorf("pubsub used = %d, want 1", got)
			}

			byName, err := srv.ClientsByName(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if server := int64(byName[clientName]); server != total {
				t.Errorf("server's CLIENT LIST has %d connections named %q, db.client.connection.count sums to %d", server, clientName, total)
			}

			for _, w := range []struct {
				metric string
				want   int64
			}{
				{"db.client.connection.max", tt.wantMax},
				{"db.client.connection.idle.min", 0},
				{"db.client.connection.pending_requests", 0},
				{"db.client.connection.timeouts", 0},
				{"redis.client.connection.hits", int64(st.Hits + st.PipelineStats.Hits)},
				{"redis.client.connection.misses", int64(st.Misses + st.PipelineStats.Misses)},
			} {
				if got, ok := s.int64(w.metric, p); !ok || got != w.want {
					t.Errorf("%s = %d (reported %v), want %d", w.metric, got, ok, w.want)
				}
			}

			// Every point carries the server and the system.
			for _, kv := range []attribute.KeyValue{
				attribute.String("db.system.name", "redis"),
				attribute.String("server.address", srv.Host),
				attribute.Int("server.port", srv.Port),
			} {
				if _, ok := s.int64("db.client.connection.max", p, kv); !ok {
					t.Errorf("db.client.connection.max has no point with %s", attrString([]attribute.KeyValue{kv}))
				}
			}
			if h, ok := s.hist("db.client.connection.create_time", p); !ok || h.count < 4 {
				t.Errorf("create_time count = %d, want one per dialled connection (>= 4)", h.count)
			}
		})
	}
}

// TestCloseReasons drives connections to each close reason and checks the
// reason and the lifetime recorded with it.
func TestCloseReasons(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	tests := []struct {
		name   string
		reason string
		// minLifetime is a lower bound of every recorded lifetime, seconds.
		minLifetime float64
		// run opens the pool, instruments it with r and drives it until
		// a connection closes; it returns the pool name.
		run func(t *testing.T, ctx context.Context, r reader) string
	}{
		{
			name: "max lifetime", reason: "max_lifetime",
			minLifetime: 0.27, // 300ms minus go-redis's 10% jitter
			run: func(t *testing.T, ctx context.Context, r reader) string {
				p := openPools(t, srv, map[string]string{"REDIS_POOL_MAX_LIFETIME": "300ms", "REDIS_POOL_IDLE_TIMEOUT": "0"})
				r.instrumentT(t, p)
				c := p.Master()
				r.eventually(t, func(s snapshot) error {
					if err := c.Ping(ctx).Err(); err != nil {
						return err
					}
					return atLeast("redis.client.connection.closed", 1, pool("master"), reason("max_lifetime"))(s)
				})
				return "master"
			},
		},
		{
			name: "idle timeout", reason: "idle_timeout",
			minLifetime: 0.2,
			run: func(t *testing.T, ctx context.Context, r reader) string {
				p := openPools(t, srv, map[string]string{"REDIS_POOL_IDLE_TIMEOUT": "200ms", "REDIS_POOL_MAX_LIFETIME": "0"})
				r.instrumentT(t, p)
				c := p.Master()
				// go-redis reaps an idle connection when it is next taken
				// from the pool, so the pool must rest longer than the idle
				// timeout between two uses: use it only when 250ms have
				// passed since the last use.
				var last time.Time
				r.eventually(t, func(s snapshot) error {
					if time.Since(last) >= 250*time.Millisecond {
						if err := c.Ping(ctx).Err(); err != nil {
							return err
						}
						last = time.Now()
					}
					return atLeast("redis.client.connection.closed", 1, pool("master"), reason("idle_timeout"))(s)
				})
				return "master"
			},
		},
		{
			name: "killed by the server", reason: "stale",
			run: func(t *testing.T, ctx context.Context, r reader) string {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ClientName: "instrument-test-stale"})
				t.Cleanup(func() { _ = c.Close() })
				r.instrumentT(t, c)
				conn := c.Conn()
				id, err := conn.ClientID(ctx).Result()
				if err != nil {
					t.Fatal(err)
				}
				_ = conn.Close() // back to the pool, idle
				if err := srv.Admin().ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
					t.Fatal(err)
				}
				redistest.Eventually(t, waitLong, func() error {
					byName, err := srv.ClientsByName(ctx)
					if err != nil || byName["instrument-test-stale"] != 0 {
						return fmt.Errorf("server still lists the killed connection (%v)", err)
					}
					return nil
				})
				if err := c.Ping(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				return srv.Addr() + "/0"
			},
		},
		{
			name: "read timeout", reason: "error",
			run: func(t *testing.T, ctx context.Context, r reader) string {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ReadTimeout: 100 * time.Millisecond, MaxRetries: -1})
				t.Cleanup(func() { _ = c.Close() })
				r.instrumentT(t, c)
				if err := c.Ping(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				if err := srv.Pause(ctx, 500*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				if err := c.Ping(ctx).Err(); err == nil {
					t.Fatal("PING during CLIENT PAUSE succeeded, want a read timeout")
				}
				return srv.Addr() + "/0"
			},
		},
		{
			name: "client closed", reason: "pool_closed",
			run: func(t *testing.T, ctx context.Context, r reader) string {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				r.instrumentT(t, c, instrument.WithPoolName("closing"))
				if err := c.Ping(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				_ = c.Close()
				return "closing"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := redistest.Context(t, waitLong)
			r := newReader(t)
			name := tt.run(t, ctx, r)
			s := r.eventually(t, atLeast("redis.client.connection.closed", 1, pool(name), reason(tt.reason)))
			closed, _ := s.int64("redis.client.connection.closed", pool(name), reason(tt.reason))
			h, ok := s.hist("redis.client.connection.lifetime", pool(name), reason(tt.reason))
			if !ok || int64(h.count) != closed {
				t.Fatalf("lifetime{reason=%s} count = %d, closed = %d: want one lifetime per close", tt.reason, h.count, closed)
			}
			if h.min < tt.minLifetime {
				t.Errorf("shortest lifetime{reason=%s} = %.3fs, want >= %.3fs", tt.reason, h.min, tt.minLifetime)
			}
			for _, r := range []string{"idle_timeout", "max_lifetime", "stale", "error", "pool_closed", "failover", "other"} {
				if r == tt.reason {
					continue
				}
				if n, _ := s.int64("redis.client.connection.closed", pool(name), reason(r)); n != 0 {
					t.Errorf("closed{reason=%s} = %d, want 0 (only %s happened)", r, n, tt.reason)
				}
			}
		})
	}
}

// TestExhaustedPool holds the only connection of a one-connection pool:
// callers either time out (short REDIS_POOL_TIMEOUT) or wait until it is
// given back.
func TestExhaustedPool(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	t.Run("callers time out", func(t *testing.T) {
		ctx := redistest.Context(t, waitLong)
		p := openPools(t, srv, map[string]string{"REDIS_MASTER_POOL_SIZE": "1", "REDIS_POOL_TIMEOUT": "50ms"})
		r := newReader(t)
		r.instrumentT(t, p)
		c := p.Master()

		held := c.Conn()
		t.Cleanup(func() { _ = held.Close() })
		if err := held.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		const callers = 3
		for range callers {
			if err := c.Ping(ctx).Err(); !errors.Is(err, redis.ErrPoolTimeout) {
				t.Fatalf("PING with the only connection held: %v, want %v", err, redis.ErrPoolTimeout)
			}
		}
		s := r.collect(t)
		st := c.PoolStats()
		timeouts, _ := s.int64("db.client.connection.timeouts", pool("master"))
		if timeouts < callers || timeouts != int64(st.Timeouts) {
			t.Errorf("timeouts = %d, PoolStats.Timeouts = %d, want them equal and >= %d", timeouts, st.Timeouts, callers)
		}
		if used, _ := s.int64("db.client.connection.count", append(state("used", "regular"), pool("master"))...); used != 1 {
			t.Errorf("regular used = %d, want 1 (the held connection)", used)
		}
		if pending, _ := s.int64("db.client.connection.pending_requests", pool("master")); pending != 0 {
			t.Errorf("pending_requests = %d after the callers gave up, want 0", pending)
		}
	})
	t.Run("callers wait", func(t *testing.T) {
		ctx := redistest.Context(t, waitLong)
		p := openPools(t, srv, map[string]string{"REDIS_MASTER_POOL_SIZE": "1", "REDIS_POOL_TIMEOUT": "20s"})
		r := newReader(t)
		r.instrumentT(t, p)
		c := p.Master()

		held := c.Conn()
		if err := held.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Ping(ctx).Err() }()
		// The caller is queued once the pool reports it pending.
		r.eventually(t, atLeast("db.client.connection.pending_requests", 1, pool("master")))
		_ = held.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		s := r.collect(t)
		st := c.PoolStats()
		if waits, _ := s.int64("redis.client.connection.waits", pool("master")); waits != 1 || st.WaitCount != 1 {
			t.Errorf("waits = %d, PoolStats.WaitCount = %d, want 1", waits, st.WaitCount)
		}
		if pending, _ := s.int64("db.client.connection.pending_requests", pool("master")); pending != 0 {
			t.Errorf("pending_requests = %d, want 0", pending)
		}
		// The waiter waited while the other connection was held: the
		// longest use covers the longest wait.
		w, _ := s.hist("db.client.connection.wait_time", pool("master"))
		u, _ := s.hist("db.client.connection.use_time", pool("master"))
		if w.count < 2 || w.max <= 0 {
			t.Errorf("wait_time count = %d max = %v, want >= 2 acquisitions, one that waited", w.count, w.max)
		}
		if u.count < 2 || u.max < w.max {
			t.Errorf("use_time count = %d max = %vs, wait_time max = %vs: want the held connection's use to cover the wait", u.count, u.max, w.max)
		}
	})
}

// TestHealthFollowsTheServer stops and restarts the server under pools
// with a short health-check interval.
func TestHealthFollowsTheServer(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p := openPools(t, srv, map[string]string{"REDIS_HEALTH_CHECK_INTERVAL": "100ms"})
	r := newReader(t)
	r.instrumentT(t, p)

	up := func(want int64) func(snapshot) error {
		return func(s snapshot) error {
			for _, role := range pools.Roles {
				if got, ok := s.int64("redis.client.health.up", pool(string(role))); !ok || got != want {
					return fmt.Errorf("health.up{%s} = %d (reported %v), want %d", role, got, ok, want)
				}
			}
			return nil
		}
	}
	s := r.eventually(t, up(1))
	if n, _ := s.int64("redis.client.health.checks", pool("master"), attribute.String("outcome", "ok")); n < 1 {
		t.Errorf("checks{outcome=ok} = %d, want >= 1", n)
	}
	if h, _ := s.hist("redis.client.health.duration", pool("master"), attribute.String("outcome", "ok")); h.count < 1 {
		t.Errorf("health.duration{outcome=ok} count = %d, want >= 1", h.count)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	s = r.eventually(t, up(0))
	failed, _ := s.int64("redis.client.health.checks", pool("master"), attribute.String("outcome", "error"))
	timedOut, _ := s.int64("redis.client.health.checks", pool("master"), attribute.String("outcome", "timeout"))
	if failed+timedOut < 1 {
		t.Errorf("checks{outcome=error|timeout} = %d, want >= 1 while the server is stopped", failed+timedOut)
	}
	if st := p.Health(pools.Master); st.Healthy {
		t.Errorf("pools says master is healthy while the gauge says 0")
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	r.eventually(t, up(1))
}

// TestCountersOnlyIncrease drops the clients of a disabled role (one new
// client per call, summed under the role's name) and checks that the
// cumulative counters never go down when those clients are collected.
func TestCountersOnlyIncrease(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	p := openPools(t, srv, map[string]string{"REDIS_MASTER_POOL_ENABLED": "0"})
	r := newReader(t)
	r.instrumentT(t, p)

	names := []string{"redis.client.connection.hits", "redis.client.connection.misses", "redis.client.connection.stale"}
	prev := map[string]int64{}
	const rounds = 5
	for round := 1; round <= rounds; round++ {
		func() {
			c := p.Master() // a new client each time
			defer c.Close()
			for range 3 {
				if err := c.Ping(ctx).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}()
		s := r.collect(t)
		for _, name := range names {
			got, _ := s.int64(name, pool("master"))
			if got < prev[name] {
				t.Fatalf("round %d: %s went down from %d to %d", round, name, prev[name], got)
			}
			prev[name] = got
		}
		runtime.GC()
	}
	s := r.collect(t)
	if got, _ := s.int64("redis.client.connection.misses", pool("master")); got < rounds || got < prev["redis.client.connection.misses"] {
		t.Errorf("misses = %d after %d clients that each dialled, want >= %d and never less than before (%d)", got, rounds, rounds, prev["redis.client.connection.misses"])
	}
	if got, _ := s.int64("redis.client.connection.hits", pool("master")); got < 2*rounds || got < prev["redis.client.connection.hits"] {
		t.Errorf("hits = %d, want >= %d (two reuses per client)", got, 2*rounds)
	}
	// The clients' closes are recorded too.
	if n, _ := s.int64("redis.client.connection.closed", pool("master"), reason("pool_closed")); n != rounds {
		t.Errorf("closed{reason=pool_closed} = %d, want %d", n, rounds)
	}
}

// TestFailoverClientNeedsAName instruments a Sentinel failover client, whose
// address is "FailoverClient".
func TestFailoverClientNeedsAName(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	sentinel := redistest.StartSentinel(t, master, "instrument-test")
	ctx := redistest.Context(t, waitLong)
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "instrument-test", SentinelAddrs: []string{sentinel.Addr()}})
	t.Cleanup(func() { _ = c.Close() })

	if _, err := instrument.New(c); err == nil {
		t.Fatal("New(failover client) without WithPoolName succeeded, want an error")
	}
	r := newReader(t)
	r.instrumentT(t, c, instrument.WithPoolName("sessions"))
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s := r.collect(t)
	if idle, _ := s.int64("db.client.connection.count", append(state("idle", "regular"), pool("sessions"))...); idle != int64(c.PoolStats().IdleConns) || idle < 1 {
		t.Errorf("idle = %d, PoolStats = %d", idle, c.PoolStats().IdleConns)
	}
	if _, ok := s.int64("db.client.connection.max", pool("sessions"), attribute.String("server.address", "FailoverClient")); ok {
		t.Error(`server.address = "FailoverClient", want no address for a Sentinel-managed pool`)
	}
	if h, _ := s.hist("db.client.connection.create_time", pool("sessions")); h.count < 1 {
		t.Errorf("create_time count = %d, want >= 1", h.count)
	}
}

// TestUnixSocketAddress: the socket path is server.address, with no port.
func TestUnixSocketAddress(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{UnixSocket: true})
	ctx := redistest.Context(t, waitLong)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	t.Cleanup(func() { _ = c.Close() })
	r := newReader(t)
	r.instrumentT(t, c)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s := r.collect(t)
	name := srv.Socket + "/0"
	if _, ok := s.int64("db.client.connection.max", pool(name), attribute.String("server.address", srv.Socket)); !ok {
		t.Fatalf("no point for pool %q with server.address = the socket path; pools: %v", name, s.poolNames("db.client.connection.max"))
	}
	m, _ := s.metric("db.client.connection.max")
	if data := fmt.Sprint(m.Data); strings.Contains(data, "server.port") {
		t.Errorf("a unix-socket pool reports server.port: %s", data)
	}
	if h, _ := s.hist("db.client.connection.create_time", pool(name)); h.count != 1 {
		t.Errorf("create_time count = %d, want 1", h.count)
	}
}

// TestNewRejects lists what New refuses, one case per bad input.
func TestNewRejects(t *testing.T) {
	failover := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = failover.Close() })
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = plain.Close() })
	tests := []struct {
		name    string
		target  any
		opts    []instrument.Option
		wantErr string
	}{
		{"nil", nil, nil, "<nil> is not supported"},
		{"unsupported type", "redis://x", nil, "string is not supported"},
		{"nil client", (*redis.Client)(nil), nil, "nil *redis.Client"},
		{"nil pools", (*pools.Pools)(nil), nil, "nil *pools.Pools"},
		{"failover client without name", failover, nil, "WithPoolName"},
		{"boundaries not increasing", plain, []instrument.Option{instrument.WithHistogramBoundaries(0.1, 0.1)}, "boundary 1 (0.1) is not larger"},
		{"boundaries empty", plain, []instrument.Option{instrument.WithHistogramBoundaries()}, "no boundaries"},
		{"boundary NaN", plain, []instrument.Option{instrument.WithHistogramBoundaries(math.NaN())}, "boundary 0 is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, err := instrument.New(tt.target, tt.opts...)
			if err == nil {
				_ = i.Close()
				t.Fatalf("New succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestClientInstrumentedTwice: a library and the application may each
// instrument the same client with their own MeterProvider; both get every
// recorder event, not only the last one to wrap the connections.
func TestClientInstrumentedTwice(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	library, app := newReader(t), newReader(t)
	library.instrumentT(t, c, instrument.WithPoolName("shared"))
	app.instrumentT(t, c, instrument.WithPoolName("shared"))
	for range 3 {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Close()
	for name, r := range map[string]reader{"library": library, "app": app} {
		s := r.collect(t)
		for _, metric := range []string{"db.client.connection.create_time", "db.client.connection.wait_time", "db.client.connection.use_time"} {
			if h, _ := s.hist(metric, pool("shared")); h.count < 1 {
				t.Errorf("%s: %s count = %d, want >= 1", name, metric, h.count)
			}
		}
		if n, _ := s.int64("redis.client.connection.closed", pool("shared"), reason("pool_closed")); n != 1 {
			t.Errorf("%s: closed{reason=pool_closed} = %d, want 1", name, n)
		}
		if n, _ := s.int64("redis.client.connection.closed", pool("shared"), reason("other")); n != 0 {
			t.Errorf("%s: closed{reason=other} = %d, want 0", name, n)
		}
	}
}
