package agent

import (
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redistest"
)

// TestServerClientResolvesNothingAtCreation: making the agent's client for
// a server asks no DNS server anything; only its dial will. go-redis
// resolves a new client's host name to classify the endpoint for its
// maintenance notifications (up to 2 s where DNS is slow), which the
// agent's one INFO / CLIENT LIST connection does not use.
func TestServerClientResolvesNothingAtCreation(t *testing.T) {
	queries := redistest.CountDNSQueries(t)
	s, err := newServer("redis://agent-dns-test.invalid:6379/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.newClient(time.Second).Close()
	if n := queries.Load(); n != 0 {
		t.Errorf("making the client made %d DNS queries, want none", n)
	}
}
