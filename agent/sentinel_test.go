package agent

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// Through Sentinel, the agent watches the master and its replica with
// their roles, and follows a failover (SENTINEL FAILOVER).
func TestSentinelFollowsFailover(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	replica := redistest.Start(t, redisserver.Options{ReplicaOf: master})
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	redistest.Eventually(t, waitFor, func() error { // the Sentinel has seen the replica
		r, err := sentinel.Admin().Do(t.Context(), "SENTINEL", "REPLICAS", "mymaster").Slice()
		if err != nil || len(r) != 1 {
			return fmt.Errorf("Sentinel's replicas: %v, %v", r, err)
		}
		return nil
	})
	ta := startAgent(t, WithSentinel("mymaster", []string{sentinel.Addr()}, "", ""), WithDiscoverEvery(2))
	expect := func(what string, roles map[string]string) {
		t.Helper()
		redistest.Eventually(t, waitFor, func() error {
			if err := sameView(nodeViews(ta.collect(t)[metricUp]), roles); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
	}
	expect("before the failover", map[string]string{master.Addr(): "master", replica.Addr(): "replica"})

	// The Sentinel refuses (NOGOODSLAVE) until it has the replica's state.
	redistest.Eventually(t, waitFor, func() error {
		return sentinel.Admin().Do(t.Context(), "SENTINEL", "FAILOVER", "mymaster").Err()
	})
	redistest.Eventually(t, waitFor, func() error {
		a, err := sentinel.Admin().Do(t.Context(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").StringSlice()
		if err != nil || len(a) != 2 || a[1] != fmt.Sprint(replica.Port) {
			return fmt.Errorf("Sentinel's master: %v, %v", a, err)
		}
		return nil
	})
	expect("after the failover", map[string]string{master.Addr(): "replica", replica.Addr(): "master"})
}

// A Sentinel that does not know the master name: said once, the agent
// carries on.
func TestSentinelUnknownMaster(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	ta := startAgent(t, WithSentinel("other", []string{sentinel.Addr()}, "", ""), WithRedis(master.URL()), WithDiscoverEvery(1))
	redistest.Eventually(t, waitFor, func() error {
		if v := nodeViews(ta.collect(t)[metricUp]); len(v) != 1 || v[master.Addr()].up != 1 {
			return fmt.Errorf("agent's servers %v, want the configured one, up", v)
		}
		if !strings.Contains(ta.logs.String(), `does not know master \"other\"`) {
			return errors.New("no log line about the unknown master yet")
		}
		return nil
	})
	if n := strings.Count(ta.logs.String(), "no Sentinel gave the master's servers"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, ta.logs.String())
	}
}

// The pools' REDIS_SENTINEL_* variables: the agent follows the master the
// Sentinel names, reached with REDIS_MASTER_URL's credentials.
func TestPoolsConfigFollowsSentinel(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{Password: "data-secret"})
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	env := map[string]string{
		"REDIS_SENTINEL_ADDRS":  sentinel.Addr(),
		"REDIS_SENTINEL_MASTER": "mymaster",
		"REDIS_MASTER_URL":      "redis://:data-secret@ignored:6379/0",
	}
	pc, err := pools.LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, WithPoolsConfig(pc), WithDiscoverEvery(1))
	redistest.Eventually(t, waitFor, func() error {
		v := nodeViews(ta.collect(t)[metricUp])
		if got := v[master.Addr()]; got.up != 1 || got.role != "master" {
			return fmt.Errorf("agent's servers %v, want %s up as master", v, master.Addr())
		}
		return nil
	})
	if strings.Contains(ta.logs.String(), "data-secret") {
		t.Fatalf("the password is in the log:\n%s", ta.logs.String())
	}
}
