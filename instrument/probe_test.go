package instrument

import (
	"testing"

	"github.com/poolscope/poolscope/internal/redistest"
)

// TestProbeResolvesNothing: the probe that checks which go-redis recorder
// is installed (at New, Close and from the metric callback) asks no DNS
// server anything. go-redis resolves a new client's address to classify
// its endpoint unless maintenance notifications are off; where DNS is slow
// or unreachable that blocked the metric callback for up to 2 seconds, and
// left the lookups' goroutines behind.
func TestProbeResolvesNothing(t *testing.T) {
	queries := redistest.CountDNSQueries(t)
	installed.mu.Lock()
	probe()
	installed.mu.Unlock()
	if n := queries.Load(); n != 0 {
		t.Errorf("the probe made %d DNS queries for %s, want none", n, probeAddr)
	}
}
