package instrument

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
)

// TestProbeResolvesNothing: the probe that checks which go-redis recorder
// is installed (at New, Close and from the metric callback) asks no DNS
// server anything. go-redis resolves a new client's address to classify
// its endpoint unless maintenance notifications are off; where DNS is slow
// or unreachable that blocked the metric callback for up to 2 seconds, and
// left the lookups' goroutines behind.
func TestProbeResolvesNothing(t *testing.T) {
	var lookups atomic.Int64
	preferGo, dial := net.DefaultResolver.PreferGo, net.DefaultResolver.Dial
	t.Cleanup(func() { net.DefaultResolver.PreferGo, net.DefaultResolver.Dial = preferGo, dial })
	net.DefaultResolver.PreferGo = true
	net.DefaultResolver.Dial = func(context.Context, string, string) (net.Conn, error) {
		lookups.Add(1)
		return nil, errors.New("no DNS in this test")
	}
	installed.mu.Lock()
	probe()
	installed.mu.Unlock()
	if n := lookups.Load(); n != 0 {
		t.Errorf("the probe made %d DNS queries for %s, want none", n, probeAddr)
	}
}
