package instrument_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

const (
	nameDemandMax = "redis.client.connection.demand.max"
	nameDemand    = "redis.client.connection.demand"
)

// TestDemandMaxSeesHoldersAndWaiters holds every connection of a pool of
// three through Conn() and makes two more callers wait: the interval's
// demand.max counts all five, although no collection happens while they
// wait, and drops back to zero once they are gone.
func TestDemandMaxSeesHoldersAndWaiters(t *testing.T) {
	const size, waiters = 3, 2
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	p := openPools(t, srv, map[string]string{"REDIS_MASTER_POOL_SIZE": fmt.Sprint(size)})
	r := newReader(t)
	r.instrumentT(t, p)
	master := p.Master()

	// A first round dials the connections, so that the measured interval
	// has no dial in it.
	for range 2 {
		held := hold(t, ctx, master, size)
		for _, c := range held {
			_ = c.Close()
		}
	}
	r.collect(t)
	r.collect(t) // a fresh interval

	held := hold(t, ctx, master, size)
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			if err := master.Ping(ctx).Err(); err != nil {
				t.Errorf("waiting caller: %v", err)
			}
		})
	}
	redistest.Eventually(t, waitLong, func() error {
		if n := master.PoolStats().PendingRequests; n != waiters {
			return fmt.Errorf("%d callers waiting, want %d", n, waiters)
		}
		return nil
	})
	for _, c := range held {
		_ = c.Close()
	}
	wg.Wait()

	if got, _ := r.collect(t).int64(nameDemandMax, pool("master")); got != size+waiters {
		t.Errorf("demand.max = %d over the interval, want %d (%d holding, %d waiting)", got, size+waiters, size, waiters)
	}
	if got, ok := r.collect(t).int64(nameDemandMax, pool("master")); !ok || got != 0 {
		t.Errorf("demand.max = %d (reported %v) in the next, idle interval, want 0", got, ok)
	}
}

// hold takes n connections of c at once, each pinned by a Conn.
func hold(t *testing.T, ctx context.Context, c *redis.Client, n int) []*redis.Conn {
	t.Helper()
	held := make([]*redis.Conn, n)
	for i := range held {
		held[i] = c.Conn()
		if err := held[i].Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return held
}

// TestDemandHistogramCountsWhatEachCallerFinds takes a pool's connections
// one after the other and keeps them: the n-th caller finds n callers
// (itself included), so the demand histogram gets 1, 2, ..., size.
func TestDemandHistogramCountsWhatEachCallerFinds(t *testing.T) {
	const size = 4
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	p := openPools(t, srv, map[string]string{"REDIS_MASTER_POOL_SIZE": fmt.Sprint(size)})
	r := newReader(t)
	r.instrumentT(t, p)
	master := p.Master()
	for _, c := range hold(t, ctx, master, size) { // dials the connections
		_ = c.Close()
	}
	before, _ := r.collect(t).hist(nameDemand, pool("master"))

	held := hold(t, ctx, master, size)
	after, ok := r.collect(t).hist(nameDemand, pool("master"))
	for _, c := range held {
		_ = c.Close()
	}
	if !ok || after.count-before.count != size || after.sum-before.sum != size*(size+1)/2 || after.max != size {
		t.Errorf("demand histogram: %d more acquisitions summing %v (max %v), want %d summing %d (max %d)",
			after.count-before.count, after.sum-before.sum, after.max, size, size*(size+1)/2, size)
	}
}

// TestDemandCountsCallersBeforeThePoolIsUsed releases eight callers of a
// pool of two that has never been used: their +1 comes before any
// connection tells poolscope the pool's go-redis name. The first dials
// wait until all eight ask, so none can leave first. The interval's
// demand.max is eight and the histogram has every caller (they find 1 to
// 8).
func TestDemandCountsCallersBeforeThePoolIsUsed(t *testing.T) {
	const size, callers = 2, 8
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	allAsked := make(chan struct{})
	var dialer net.Dialer
	client := redis.NewClient(&redis.Options{
		Addr:     srv.Addr(),
		PoolSize: size,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			select {
			case <-allAsked:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return dialer.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { _ = client.Close() })
	r := newReader(t)
	r.instrumentClientT(t, client, instrument.WithPoolName("burst"))
	attrs := pool("burst")

	start := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			<-start
			if err := client.Ping(ctx).Err(); err != nil {
				t.Errorf("caller: %v", err)
			}
		})
	}
	close(start)
	redistest.Eventually(t, waitLong, func() error {
		if n := client.PoolStats().PendingRequests; n != callers {
			return fmt.Errorf("%d callers asking, want %d", n, callers)
		}
		return nil
	})
	close(allAsked)
	wg.Wait()

	s := r.collect(t)
	if got, _ := s.int64(nameDemandMax, attrs); got != callers {
		t.Errorf("demand.max = %d over the first interval, want %d", got, callers)
	}
	if h, ok := s.hist(nameDemand, attrs); !ok || h.count != callers || h.sum != callers*(callers+1)/2 || h.max != callers {
		t.Errorf("demand histogram: %d callers summing %v (max %v), want %d summing %d (max %d)",
			h.count, h.sum, h.max, callers, callers*(callers+1)/2, callers)
	}
	if got, _ := r.collect(t).int64(nameDemandMax, attrs); got != 0 {
		t.Errorf("demand.max = %d in the next, idle interval, want 0", got)
	}
}
