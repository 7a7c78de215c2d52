package pools_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// TestDisabledRoleStaysBounded pins issue 15: code written for the enabled
// pool asks for p.Master() per request and never closes it. With the flag
// off that code must stay bounded: when every call made a new client, the
// server's connections and the process's fds grew with the requests (3,265
// to 9,737 in 4 s) until Redis refused more. Now CLIENT LIST, the fds and
// the clients stay within the legacy clients' go-redis default pools after
// 10,000 requests, without a garbage collection.
func TestDisabledRoleStaysBounded(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), map[string]string{"REDIS_MASTER_POOL_ENABLED": "0"})
	ctx := redistest.Context(t, time.Minute)
	name := p.ClientName(pools.Master)
	fdsBefore := openFDs(t)

	const requests, callers = 10_000, 50
	// Each legacy client holds at most as many connections as callers used
	// it at once, and never more than its go-redis default pools.
	perClient := min(callers, 10*runtime.GOMAXPROCS(0)+redis.DefaultPipelinePoolSize)
	bound := pools.DefaultLegacyClients * perClient

	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for n := next.Add(1); n <= requests; n = next.Add(1) {
				c := p.Master() // per request, never closed: the enabled-pool idiom
				if err := c.Set(ctx, fmt.Sprint("bounded:", n%100), n, 0).Err(); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()

	conns, fds, clients := countFor(t, s, name), openFDs(t)-fdsBefore, len(p.Clients(pools.Master))
	t.Logf("after %d requests by %d callers: %d server connections named %s, %d more fds, %d clients (bound %d connections)",
		requests, callers, conns, name, fds, clients, bound)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed", n, requests)
	}
	if clients > pools.DefaultLegacyClients {
		t.Errorf("%d master clients after %d calls, want at most %d", clients, requests, pools.DefaultLegacyClients)
	}
	if conns < 1 || conns > bound {
		t.Errorf("CLIENT LIST: %d master connections after %d requests, want 1 to %d", conns, requests, bound)
	}
	// The health loops may open their one connection each meanwhile.
	if fds > bound+len(pools.Roles) {
		t.Errorf("%d more open fds after %d requests, want at most %d", fds, requests, bound+len(pools.Roles))
	}
}

// TestLegacyClientsInTurn: a disabled role hands out WithLegacyClients
// clients in turn, each with go-redis's defaults.
func TestLegacyClientsInTurn(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	cfg, err := pools.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{"REDIS_MASTER_URL": s.URL(), "REDIS_LOCAL_URL": s.URL(), "REDIS_MASTER_POOL_ENABLED": "0"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pools.New(cfg, quiet, pools.WithLegacyClients(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	a, b, c := p.Master(), p.Master(), p.Master()
	if a == b || c != a {
		t.Errorf("with 2 legacy clients: calls returned %p, %p, %p; want two clients in turn", a, b, c)
	}
	if o := a.Options(); o.MaxActiveConns != 0 || o.PoolSize != 10*runtime.GOMAXPROCS(0) {
		t.Errorf("legacy client options: PoolSize %d MaxActiveConns %d, want go-redis defaults", o.PoolSize, o.MaxActiveConns)
	}
	if got := len(p.Clients(pools.Master)); got != 2 {
		t.Errorf("Clients(master) = %d, want 2", got)
	}
}

// TestCloseClientWaitsForEveryHolder: a legacy client handed out twice is
// closed only when both callers gave it back; its slot then gets a new
// client, so that code that gives clients back after each use still dials
// anew (the connection churn of the days before pooling).
func TestCloseClientWaitsForEveryHolder(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), map[string]string{"REDIS_MASTER_POOL_ENABLED": "0"})
	ctx := redistest.Context(t, time.Minute)
	first := p.Master()
	for range pools.DefaultLegacyClients - 1 {
		_ = p.Master()
	}
	again := p.Master() // the turn comes back to the first slot
	if again != first {
		t.Fatalf("call %d returned another client than the first", pools.DefaultLegacyClients+1)
	}
	if err := p.CloseClient(first); err != nil {
		t.Fatal(err)
	}
	if err := again.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING through a client another caller still holds: %v", err)
	}
	if err := p.CloseClient(again); err != nil {
		t.Fatal(err)
	}
	if err := again.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("PING after every holder gave it back: %v, want redis.ErrClosed", err)
	}
	for range pools.DefaultLegacyClients - 1 {
		_ = p.Master()
	}
	if c := p.Master(); c == first {
		t.Error("the closed client's slot handed it out again, want a new client")
	} else if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("PING through the slot's new client: %v", err)
	}
}
