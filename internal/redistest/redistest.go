// Package redistest wraps internal/redisserver for tests: every server it
// starts is stopped by t.Cleanup, and a missing redis-server fails the test
// with the install command instead of skipping it, so that CI cannot hide a
// missing install step.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
)

// Start starts a redis-server for the test and stops it at cleanup.
func Start(tb testing.TB, opts redisserver.Options) *redisserver.Server {
	tb.Helper()
	s, err := redisserver.Start(opts)
	if err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// StartSentinel starts a Sentinel monitoring master and stops it at cleanup.
func StartSentinel(tb testing.TB, master *redisserver.Server, masterName string) *redisserver.Sentinel {
	tb.Helper()
	s, err := redisserver.StartSentinel(master, masterName)
	if err != nil {
		tb.Fatalf("start redis sentinel: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Eventually polls cond every 10 ms until it returns nil or the timeout
// passes, then fails the test with the last error. Tests wait for state
// with it instead of sleeping.
func Eventually(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Context is a context that ends with the test (or after timeout).
func Context(tb testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	tb.Cleanup(cancel)
	return ctx
}

// StartCluster starts a Redis Cluster of masters with replicasPerMaster
// replicas each and stops it at cleanup.
func StartCluster(tb testing.TB, masters, replicasPerMaster int) *redisserver.Cluster {
	tb.Helper()
	c, err := redisserver.StartCluster(masters, replicasPerMaster)
	if err != nil {
		tb.Fatalf("start redis cluster: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
