package instrument_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// TestPreDialledAsyncConnectionsHaveCreateTimes: pools.New dials the async
// pool's MIN connections before instrument.New can hook its clients;
// instrument.New alone (no second step) counts them in
// db.client.connection.create_time, once: using them afterwards adds no
// second count. A second Instrumentation, through another MeterProvider,
// does not get them (the control: without the pools' dial times they are
// missing).
func TestPreDialledAsyncConnectionsHaveCreateTimes(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	const minIdle = 3
	for _, first := range []bool{true, false} {
		t.Run(fmt.Sprintf("first=%v", first), func(t *testing.T) {
			cfg, err := pools.LoadConfig(func(k string) (string, bool) {
				v, ok := map[string]string{
					"REDIS_MASTER_URL": srv.URL(), "REDIS_LOCAL_URL": srv.URL(), "OTEL_SERVICE_NAME": fmt.Sprintf("predial-%v", first),
					// MAX = MIN: go-redis dials a connection in the background
					// whenever taking one leaves fewer than MIN idle, up to MAX;
					// with room above MIN the PINGs below would set off such a
					// dial, and its first use would add a create time (seen
					// once in 180 runs: 1 sample in the control).
					"REDIS_ASYNC_POOL_MIN": fmt.Sprint(minIdle), "REDIS_ASYNC_POOL_MAX": fmt.Sprint(minIdle),
				}[k]
				return v, ok
			})
			if err != nil {
				t.Fatal(err)
			}
			// Count the async pool's dials, to compare with create_time.
			var mu sync.Mutex
			asyncDials := 0
			counting := pools.WithDialWrapper(func(role pools.Role, next pools.DialFunc) pools.DialFunc {
				return func(ctx context.Context, network, addr string) (net.Conn, error) {
					conn, err := next(ctx, network, addr)
					if err == nil && role == pools.Async {
						mu.Lock()
						asyncDials++
						mu.Unlock()
					}
					return conn, err
				}
			})
			p, err := pools.New(cfg, pools.WithLogger(slog.New(slog.DiscardHandler)), counting)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			// Wait until the server has the MIN connections, named: pools
			// names them as it dials them, before instrumenting.
			name := p.ClientName(pools.Async)
			redistest.Eventually(t, 10*time.Second, func() error {
				counts, err := srv.ClientsByName(context.Background())
				if err != nil {
					return err
				}
				if counts[name] != minIdle {
					return fmt.Errorf("server sees %d connections named %s, want %d", counts[name], name, minIdle)
				}
				return nil
			})

			// Every dial has returned before instrumenting: the pool holds
			// its MIN, idle. Neither the server's names (pools names a
			// connection inside its dial) nor IdleConns alone (go-redis
			// counts a MIN connection idle when it starts dialling it)
			// show that; TotalConns counts a connection once its dial has
			// returned and it is in the pool. (Seen once under load: all
			// three named and idle, none dialled yet, and a PING then
			// dialled a fourth connection.)
			redistest.Eventually(t, 10*time.Second, func() error {
				if st := p.Async().PoolStats(); st.TotalConns != minIdle || st.IdleConns != minIdle {
					return fmt.Errorf("async pool has %d connections, %d idle, want %d and %d", st.TotalConns, st.IdleConns, minIdle, minIdle)
				}
				return nil
			})
			mu.Lock()
			dialled := asyncDials
			mu.Unlock()

			if !first {
				newReader(t).instrumentT(t, p) // takes the dial times
			}
			r := newReader(t)
			r.instrumentT(t, p)
			for i := 0; i < 20; i++ {
				if err := p.Async().Ping(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
			}
			h, _ := r.collect(t).hist("db.client.connection.create_time", pool("async"))
			t.Logf("async pool: %d connections dialled before instrument.New; create_time: %d samples, max %.6f s", dialled, h.count, h.max)
			switch {
			case dialled < minIdle:
				t.Fatalf("%d async dials before instrumenting, want >= %d", dialled, minIdle)
			case first && h.count != uint64(dialled):
				t.Errorf("create_time{pool=async} has %d samples, want one per connection dialled before instrument.New (%d)", h.count, dialled)
			case !first && h.count != 0:
				t.Errorf("control, a second Instrumentation: %d samples; the pre-dialled connections should be missing", h.count)
			}
		})
	}
}
