package agent

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// Through Sentinel, the agent watches the master and its replica with
// their roles, and follows a failover (SENTINEL FAILOVER): within two of
// the watch's discovery passes and two sampling passes of each server once
// the servers and the Sentinel agree on the new roles (passCounter counts
// them).
func TestSentinelFollowsFailover(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	replica := redistest.Start(t, redisserver.Options{ReplicaOf: master})
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	passes := newPassCounter("sentinel master " + strconv.Quote("mymaster"))
	ta := startAgent(t, WithSentinel("mymaster", []string{sentinel.Addr()}, "", ""), WithDiscoverEvery(2), passes.option())
	expect := func(what string, newMaster, newReplica *redisserver.Server) {
		t.Helper()
		settledSentinel(t, sentinel, newMaster, newReplica)
		want := map[string]string{newMaster.Addr(): "master", newReplica.Addr(): "replica"}
		passes.within(t, ta, 2, what, func() error {
			m, err := ta.points()
			if err != nil {
				return err
			}
			return sameView(nodeViews(m[metricUp]), want)
		})
	}
	expect("before the failover", master, replica)

	// The Sentinel refuses (NOGOODSLAVE) until it has the replica's state.
	redistest.Eventually(t, waitFor, func() error {
		return sentinel.Admin().Do(t.Context(), "SENTINEL", "FAILOVER", "mymaster").Err()
	})
	expect("after the failover", replica, master)
}

// settledSentinel waits until the Sentinel names m as the master and r as
// its replica, and the two servers' own ROLE replies agree.
func settledSentinel(t *testing.T, sentinel *redisserver.Sentinel, m, r *redisserver.Server) {
	t.Helper()
	redistest.Eventually(t, waitFor, func() error {
		addr, err := sentinel.Admin().Do(t.Context(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").StringSlice()
		if err != nil || len(addr) != 2 || addr[1] != strconv.Itoa(m.Port) {
			return fmt.Errorf("Sentinel's master: %v, %v; want port %d", addr, err, m.Port)
		}
		sc := sentinel.SentinelClient()
		defer sc.Close()
		replicas, err := sc.Replicas(t.Context(), "mymaster").Result()
		if err != nil || len(replicas) != 1 || replicas[0]["port"] != strconv.Itoa(r.Port) {
			return fmt.Errorf("Sentinel's replicas: %v, %v; want port %d alone", replicas, err, r.Port)
		}
		if a, b := ownRole(t, m), ownRole(t, r); a != "master" || b != "replica" {
			return fmt.Errorf("the servers' own roles: %s %s, %s %s", m.Addr(), a, r.Addr(), b)
		}
		return nil
	})
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
