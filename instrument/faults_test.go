package instrument_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// closeReasons lists redis.client.connection.closed by reason for a pool.
func closeReasons(s snapshot, poolName string) map[string]int64 {
	out := map[string]int64{}
	for _, r := range []string{"idle_timeout", "max_lifetime", "stale", "error", "pool_closed", "failover", "other"} {
		if v, ok := s.int64("redis.client.connection.closed", pool(poolName), reason(r)); ok && v > 0 {
			out[r] = v
		}
	}
	return out
}

// TestKilledServerShowsInHealthAndCloseReasons: redis-server is SIGKILLed
// while the master pool holds connections and restarted. The health gauge
// goes to 0 and back to 1, and the dead connections are counted as closed
// with reason stale or error (never pool_closed: the pool stayed open).
// go-redis finds a dead idle connection only when it takes it from the
// pool, and takes the newest first: once a new connection serves the pings,
// older dead ones wait for the idle timeout, so not all 4 need show yet.
func TestKilledServerShowsInHealthAndCloseReasons(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	r := newReader(t)
	p := openPools(t, srv, map[string]string{"REDIS_HEALTH_CHECK_INTERVAL": "100ms"})
	r.instrumentT(t, p)
	ctx := redistest.Context(t, waitLong)
	master := p.Master()
	// Hold 4 connections at once so that the pool has 4 to lose.
	conns := make([]interface{ Close() error }, 0, 4)
	for i := 0; i < 4; i++ {
		cn := master.Conn()
		if err := cn.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
	}
	for _, cn := range conns {
		_ = cn.Close()
	}
	r.eventually(t, atLeast("redis.client.health.up", 1, pool("master")))

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	r.eventually(t, func(s snapshot) error {
		if v, ok := s.int64("redis.client.health.up", pool("master")); !ok || v != 0 {
			return fmt.Errorf("health.up{pool=master} = %d (present %v), want 0", v, ok)
		}
		return nil
	})
	unhealthyAfter := time.Since(killed)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Using the pool after the restart meets the dead connections.
	s := r.eventually(t, func(s snapshot) error {
		_ = master.Ping(ctx).Err()
		reasons := closeReasons(s, "master")
		if reasons["stale"]+reasons["error"] < 1 {
			return fmt.Errorf("close reasons %v, want the dead connections as stale or error", reasons)
		}
		if v, _ := s.int64("redis.client.health.up", pool("master")); v != 1 {
			return fmt.Errorf("health.up = %d after the restart", v)
		}
		return nil
	})
	reasons := closeReasons(s, "master")
	t.Logf("health.up went to 0 %v after SIGKILL; close reasons after the restart: %v", unhealthyAfter.Round(time.Millisecond), reasons)
	if reasons["pool_closed"] > 0 {
		t.Errorf("%d connections counted as pool_closed, the pool was never closed", reasons["pool_closed"])
	}
}

// TestFailoverShowsInCloseReasons: after SENTINEL FAILOVER the old master
// drops its clients; the master pool's connections to it are counted as
// closed and the pool writes to the new master. go-redis reports the close
// as failover when its Sentinel watcher acts first; when the connection
// is found dead first it closes it without a reason (other) or as stale or
// error: every one of them is a close that was not a pool shutdown.
func TestFailoverShowsInCloseReasons(t *testing.T) {
	first := redistest.Start(t, redisserver.Options{})
	second := redistest.Start(t, redisserver.Options{ReplicaOf: first})
	sentinel := redistest.StartSentinel(t, first, "instrument-failover")
	ctx := redistest.Context(t, 90*time.Second)
	if err := sentinel.WaitReplicas(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r := newReader(t)
	p := openPools(t, first, map[string]string{
		"REDIS_SENTINEL_ADDRS":  sentinel.Addr(),
		"REDIS_SENTINEL_MASTER": "instrument-failover",
	})
	r.instrumentT(t, p)
	for i := 0; i < 3; i++ {
		if err := p.Master().Set(ctx, "before", i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	redistest.Eventually(t, 20*time.Second, func() error { return second.Admin().Get(ctx, "before").Err() })
	before := closeReasons(r.collect(t), "master")

	redistest.Eventually(t, 30*time.Second, func() error { return sentinel.Failover(ctx) })
	s := r.eventually(t, func(s snapshot) error {
		if err := p.Master().Set(ctx, "after", "1", 0).Err(); err != nil {
			return err
		}
		if v, err := second.Admin().Get(ctx, "after").Result(); err != nil || v != "1" {
			return fmt.Errorf("new master has after=%q, %v", v, err)
		}
		after := closeReasons(s, "master")
		sum := func(m map[string]int64) int64 { return m["failover"] + m["stale"] + m["error"] + m["other"] }
		if sum(after) <= sum(before) {
			return fmt.Errorf("close reasons %v (before the failover %v): no connection closed by the failover", after, before)
		}
		return nil
	})
	after := closeReasons(s, "master")
	t.Logf("master pool close reasons before the failover %v, after %v", before, after)
	var parts []string
	for k, v := range after {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	if after["pool_closed"] > before["pool_closed"] {
		t.Errorf("failover counted as pool_closed: %s", strings.Join(parts, " "))
	}
}
