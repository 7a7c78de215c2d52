package instrument_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

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
				r.instrumentClientT(t, c)
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
				r.instrumentClientT(t, c)
				if err := c.Ping(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				// A PING sent inside the pause times out. On a loaded
				// machine the PING may go out only after the pause has
				// ended, and then succeeds: pause again (a new pause waits
				// for the old one to end) until one PING has timed out.
				redistest.Eventually(t, waitLong, func() error {
					if err := srv.Pause(ctx, 500*time.Millisecond); err != nil {
						t.Fatal(err)
					}
					if err := c.Ping(ctx).Err(); err == nil {
						return errors.New("PING succeeded: it reached the server after the pause")
					}
					return nil
				})
				return srv.Addr() + "/0"
			},
		},
		{
			name: "client closed", reason: "pool_closed",
			run: func(t *testing.T, ctx context.Context, r reader) string {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				r.instrumentClientT(t, c, instrument.WithPoolName("closing"))
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
			// A close is counted, then its lifetime recorded: a collection
			// may fall in between, so wait for both.
			var h histStats
			s := r.eventually(t, func(s snapshot) error {
				closed, _ := s.int64("redis.client.connection.closed", pool(name), reason(tt.reason))
				h, _ = s.hist("redis.client.connection.lifetime", pool(name), reason(tt.reason))
				if closed < 1 || int64(h.count) != closed {
					return fmt.Errorf("closed{reason=%s} = %d, lifetimes = %d: want one lifetime per close, >= 1", tt.reason, closed, h.count)
				}
				return nil
			})
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
