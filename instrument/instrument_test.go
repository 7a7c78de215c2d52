package instrument_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

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
			wantMax: 4, // pools turns go-redis's pipeline pool off: the size is the cap
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
			switch target := target.(type) {
			case *pools.Pools:
				r.instrumentT(t, target)
			case *redis.Client:
				r.instrumentClientT(t, target)
			}

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
				{state("used", "pubsub"), int64(st.PubSubStats.Active)},
			}
			pl := st.PipelineStats
			if pl != nil {
				want = append(want,
					struct {
						attrs []attribute.KeyValue
						value int64
					}{state("used", "pipeline"), int64(pl.TotalConns - pl.IdleConns)},
					struct {
						attrs []attribute.KeyValue
						value int64
					}{state("idle", "pipeline"), int64(pl.IdleConns)})
			} else {
				// No pipeline pool (pools turns it off): pipelines ran on
				// the regular pool, and no pipeline state is reported.
				pl = newZero(pl) // its type is go-redis-internal
				if _, ok := s.int64("db.client.connection.count", append(state("idle", "pipeline"), p)...); ok {
					t.Error("pipeline connections reported for a client without a pipeline pool")
				}
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
				{"redis.client.connection.hits", int64(st.Hits + pl.Hits)},
				{"redis.client.connection.misses", int64(st.Misses + pl.Misses)},
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
			// Regular and pipeline-pool connections (none of the latter
			// for pools, whose pipelines use the regular pool).
			dialled := uint64(st.TotalConns + pl.TotalConns)
			if h, ok := s.hist("db.client.connection.create_time", p); !ok || h.count < dialled || dialled < 3 {
				t.Errorf("create_time count = %d, want one per dialled connection (>= %d, at least 3)", h.count, dialled)
			}
		})
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

	if _, err := instrument.NewClient(c); err == nil {
		t.Fatal("New(failover client) without WithPoolName succeeded, want an error")
	}
	r := newReader(t)
	r.instrumentClientT(t, c, instrument.WithPoolName("sessions"))
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
	r.instrumentClientT(t, c)
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

// TestNewRejects lists what New and NewClient refuse, one case per bad
// input. What the compiler refuses (a string, a redis.Options) is not here.
func TestNewRejects(t *testing.T) {
	failover := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = failover.Close() })
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = plain.Close() })
	tests := []struct {
		name    string
		target  redis.UniversalClient
		opts    []instrument.ClientOption
		wantErr string
	}{
		{"nil", nil, nil, "<nil> is not supported"},
		{"other UniversalClient", otherClient{plain}, nil, "instrument_test.otherClient is not supported"},
		{"nil client", (*redis.Client)(nil), nil, "nil *redis.Client"},
		{"nil cluster", (*redis.ClusterClient)(nil), nil, "nil *redis.ClusterClient"},
		{"nil ring", (*redis.Ring)(nil), nil, "nil *redis.Ring"},
		{"failover client without name", failover, nil, "WithPoolName"},
		{"boundaries not increasing", plain, []instrument.ClientOption{instrument.WithHistogramBoundaries(0.1, 0.1)}, "boundary 1 (0.1) is not larger"},
		{"boundaries empty", plain, []instrument.ClientOption{instrument.WithHistogramBoundaries()}, "no boundaries"},
		{"boundary NaN", plain, []instrument.ClientOption{instrument.WithHistogramBoundaries(math.NaN())}, "boundary 0 is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, err := instrument.NewClient(tt.target, tt.opts...)
			if err == nil {
				_ = i.Close()
				t.Fatalf("NewClient succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewClient: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("nil pools", func(t *testing.T) {
		if _, err := instrument.New(nil); err == nil || !strings.Contains(err.Error(), "nil *pools.Pools") {
			t.Fatalf("New(nil): %v, want an error naming nil *pools.Pools", err)
		}
	})
}

// otherClient is a redis.UniversalClient that is none of go-redis's own.
type otherClient struct{ *redis.Client }

// TestClientInstrumentedTwice: a library and the application may each
// instrument the same client with their own MeterProvider; both get every
// recorder event, not only the last one to wrap the connections.
func TestClientInstrumentedTwice(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	library, app := newReader(t), newReader(t)
	library.instrumentClientT(t, c, instrument.WithPoolName("shared"))
	app.instrumentClientT(t, c, instrument.WithPoolName("shared"))
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

// TestCommandPathAddsNoAllocations compares the allocations of GET and SET
// through a bare client and through an instrumented one on the same server
// (the recorder paths are pinned one by one in TestHotPathsAllocateNothing).
func TestCommandPathAddsNoAllocations(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	allocs := func(c *redis.Client) float64 {
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(500, func() {
			_ = c.Set(ctx, "k", "v", 0).Err()
			_ = c.Get(ctx, "k").Err()
		})
	}
	bare := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = bare.Close() })
	want := allocs(bare) // measured before any recorder is installed

	observed := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = observed.Close() })
	newReader(t).instrumentClientT(t, observed)
	if got := allocs(observed); got != want {
		t.Errorf("SET+GET: %v allocations instrumented, %v bare; want no more", got, want)
	}
}

// newZero returns a new zero value of what p points to, for types that
// cannot be named (go-redis's internal pool.Stats).
func newZero[T any](*T) *T { return new(T) }
