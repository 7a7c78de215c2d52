package instrument_test

import (
	"fmt"
	"runtime"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// TestHealthFollowsTheServer stops and restarts the server under pools
// with a short health-check interval.
func TestHealthFollowsTheServer(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p := openPools(t, srv, map[string]string{"REDIS_HEALTH_CHECK_INTERVAL": "100ms"})
	r := newReader(t)
	r.instrumentT(t, p)

	// health.up follows pools.Health; the checks reach poolscope through
	// OnHealthCheck, right after (the first check may even precede New):
	// wait for both.
	health := func(up int64, outcomes ...string) func(snapshot) error {
		return func(s snapshot) error {
			for _, role := range pools.Roles {
				if got, ok := s.int64("redis.client.health.up", pool(string(role))); !ok || got != up {
					return fmt.Errorf("health.up{%s} = %d (reported %v), want %d", role, got, ok, up)
				}
			}
			var checks, durations int64
			for _, o := range outcomes {
				n, _ := s.int64("redis.client.health.checks", pool("master"), attribute.String("outcome", o))
				h, _ := s.hist("redis.client.health.duration", pool("master"), attribute.String("outcome", o))
				checks, durations = checks+n, durations+int64(h.count)
			}
			if checks < 1 || durations != checks {
				return fmt.Errorf("master: %d checks and %d durations with outcome %v, want as many, >= 1", checks, durations, outcomes)
			}
			return nil
		}
	}
	r.eventually(t, health(1, "ok"))

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	r.eventually(t, health(0, "error", "timeout"))
	if st := p.Health(pools.Master); st.Healthy || st.ConsecutiveFailures < 1 {
		t.Errorf("pools says master is healthy (%+v) while the gauge says 0", st)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	r.eventually(t, health(1, "ok"))
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
			c := p.Master() // a new client each time: given back below
			defer func() { _ = p.CloseClient(c) }()
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
