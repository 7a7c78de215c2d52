package pools_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestServerKilledUnderLoad: redis-server is SIGKILLed during a 64-caller
// workload and restarted. Callers get errors (not hangs) while it is down,
// the pools serve again soon after it is back, health shows the outage, and
// nothing leaks.
func TestServerKilledUnderLoad(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	fdsBefore, goroutinesBefore := openFDs(t), runtime.NumGoroutine()

	cfg, err := pools.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{
			"REDIS_MASTER_URL": s.URL(), "REDIS_LOCAL_URL": s.URL(),
			"REDIS_POOL_TIMEOUT": "1s", "REDIS_HEALTH_CHECK_INTERVAL": "100ms",
		}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pools.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	master := p.Master()

	var down atomic.Bool
	var okCalls, failedCalls atomic.Int64
	var slowestFailure atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := fmt.Sprint("k", i)
			for ctx.Err() == nil {
				start := time.Now()
				err := master.Set(ctx, key, i, 0).Err()
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					okCalls.Add(1)
					continue
				}
				failedCalls.Add(1)
				if down.Load() {
					d := int64(time.Since(start))
					for old := slowestFailure.Load(); d > old && !slowestFailure.CompareAndSwap(old, d); old = slowestFailure.Load() {
					}
				}
				time.Sleep(5 * time.Millisecond) // a caller's back-off, not a wait for state
			}
		}(i)
	}

	redistest.Eventually(t, 10*time.Second, func() error {
		if okCalls.Load() < 1000 {
			return fmt.Errorf("%d successful calls", okCalls.Load())
		}
		return nil
	})
	down.Store(true)
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	failedBefore := failedCalls.Load()
	redistest.Eventually(t, 10*time.Second, func() error {
		if failedCalls.Load()-failedBefore < 64 {
			return fmt.Errorf("%d failed calls while down", failedCalls.Load()-failedBefore)
		}
		if h := p.Health(pools.Master); h.Healthy {
			return fmt.Errorf("master still healthy")
		}
		return nil
	})

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	down.Store(false)
	okBefore := okCalls.Load()
	redistest.Eventually(t, 10*time.Second, func() error {
		if okCalls.Load()-okBefore < 64 {
			return fmt.Errorf("%d successful calls since the restart", okCalls.Load()-okBefore)
		}
		return nil
	})
	recovered := time.Since(back)
	redistest.Eventually(t, 5*time.Second, func() error {
		if h := p.Health(pools.Master); !h.Healthy {
			return fmt.Errorf("master health %+v", h)
		}
		return nil
	})
	cancel()
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	slowest := time.Duration(slowestFailure.Load())
	t.Logf("ok %d, failed %d, slowest failure while down %v, serving again %v after restart",
		okCalls.Load(), failedCalls.Load(), slowest.Round(time.Millisecond), recovered.Round(time.Millisecond))
	// A failing call may spend the pool timeout waiting plus go-redis's
	// retries (3, backing off up to 512 ms); it must never hang.
	if slowest > cfg.PoolTimeout+3*time.Second {
		t.Errorf("a call took %v to fail while the server was down", slowest)
	}
	if recovered > 2*time.Second {
		t.Errorf("pools needed %v to serve again after the restart", recovered)
	}

	redistest.Eventually(t, 10*time.Second, func() error {
		if fds := openFDs(t); fds > fdsBefore {
			return fmt.Errorf("%d file descriptors open, %d before", fds, fdsBefore)
		}
		if g := runtime.NumGoroutine(); g > goroutinesBefore {
			return fmt.Errorf("%d goroutines, %d before", g, goroutinesBefore)
		}
		return nil
	})
}

// TestSentinelFailover: after SENTINEL FAILOVER, master-pool writes reach
// the new master and the replica pool keeps reading.
func TestSentinelFailover(t *testing.T) {
	first := redistest.Start(t, redisserver.Options{})
	second := redistest.Start(t, redisserver.Options{ReplicaOf: first})
	sentinel := redistest.StartSentinel(t, first, "failover-test")
	ctx := redistest.Context(t, 90*time.Second)
	if err := sentinel.WaitReplicas(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p := open(t, first.URL(), map[string]string{
		"REDIS_SENTINEL_ADDRS":  sentinel.Addr(),
		"REDIS_SENTINEL_MASTER": "failover-test",
	})
	if err := p.Master().Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Wait for the replica to be in sync, or Sentinel refuses to promote it.
	redistest.Eventually(t, 20*time.Second, func() error {
		return second.Admin().Get(ctx, "before").Err()
	})

	start := time.Now()
	redistest.Eventually(t, 30*time.Second, func() error { return sentinel.Failover(ctx) })
	redistest.Eventually(t, 30*time.Second, func() error {
		addr, err := sentinel.MasterAddr(ctx)
		if err != nil || addr != second.Addr() {
			return fmt.Errorf("Sentinel names %q as master (%v), want %s", addr, err, second.Addr())
		}
		return nil
	})
	elected := time.Since(start)
	redistest.Eventually(t, 10*time.Second, func() error {
		if err := p.Master().Set(ctx, "after", "2", 0).Err(); err != nil {
			return err
		}
		if v, err := second.Admin().Get(ctx, "after").Result(); err != nil || v != "2" {
			return fmt.Errorf("new master has after=%q, %v", v, err)
		}
		return nil
	})
	writing := time.Since(start)
	t.Logf("Sentinel elected the new master after %v; master-pool writes reached it after %v", elected.Round(time.Millisecond), writing.Round(time.Millisecond))
	if writing > elected+2*time.Second {
		t.Errorf("writes reached the new master %v after the election", writing-elected)
	}
	redistest.Eventually(t, 20*time.Second, func() error {
		return p.Replica().Get(ctx, "before").Err()
	})
}
