package pools_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// TestDialWrapperSeesPreDialledConnections: the wrapper sees every dial of
// the role clients from the first one, the async pool's pre-dialled MIN
// connections included, and wrappers nest first-outermost.
func TestDialWrapperSeesPreDialledConnections(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	var mu sync.Mutex
	dials := map[pools.Role]int{}
	var order []string
	counting := func(role pools.Role, next pools.DialFunc) pools.DialFunc {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dials[role]++
			order = append(order, "outer")
			mu.Unlock()
			return next(ctx, network, addr)
		}
	}
	inner := func(role pools.Role, next pools.DialFunc) pools.DialFunc {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			order = append(order, "inner")
			mu.Unlock()
			return next(ctx, network, addr)
		}
	}
	cfg, err := pools.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{"REDIS_MASTER_URL": s.URL(), "REDIS_LOCAL_URL": s.URL(), "REDIS_ASYNC_POOL_MIN": "3", "REDIS_MASTER_POOL_ENABLED": "0"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pools.New(cfg, quiet, pools.WithDialWrapper(counting), pools.WithDialWrapper(inner))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	redistest.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if dials[pools.Async] < 3 {
			return fmt.Errorf("the wrapper saw %d async dials, want the 3 pre-dialled ones", dials[pools.Async])
		}
		return nil
	})
	// A disabled role's client dials through it too.
	c := p.Master()
	defer p.CloseClient(c)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if dials[pools.Master] != 1 {
		t.Errorf("the wrapper saw %d master dials, want 1", dials[pools.Master])
	}
	if len(order) < 2 || order[0] != "outer" || order[1] != "inner" {
		t.Errorf("wrappers ran in order %v, want outer then inner", order[:min(len(order), 2)])
	}
}

// TestDialBackoff: after a refused dial a shared pool fails further dials
// to that address at once with a DialBackoffError naming the pool and the
// address and holding the refusal.
func TestDialBackoff(t *testing.T) {
	port := redistest.RefusedPort(t)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	p := open(t, url, map[string]string{"REDIS_ASYNC_POOL_MIN": "0"})
	ctx := redistest.Context(t, 10*time.Second)
	var backoff *pools.DialBackoffError
	redistest.Eventually(t, 5*time.Second, func() error {
		err := p.Master().Ping(ctx).Err()
		if !errors.As(err, &backoff) {
			return fmt.Errorf("PING: %v, want a DialBackoffError", err)
		}
		return nil
	})
	var opErr *net.OpError
	if backoff.Role != pools.Master || backoff.Addr != fmt.Sprintf("127.0.0.1:%d", port) || !errors.As(backoff.Err, &opErr) {
		t.Errorf("back-off error %+v (%v)", backoff, backoff)
	}
	t.Logf("error: %v", backoff)
}
