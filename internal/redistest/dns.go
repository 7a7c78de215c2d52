package redistest

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
)

// CountDNSQueries makes Go's resolver send no query for the rest of the
// test and count the ones it would have sent: a host name in /etc/hosts
// (localhost) is still resolved, any other one fails. Tests that use it
// must not run in parallel with tests that need DNS; none of the project's
// tests does.
func CountDNSQueries(tb testing.TB) *atomic.Int64 {
	var queries atomic.Int64
	r := net.DefaultResolver
	preferGo, dial := r.PreferGo, r.Dial
	tb.Cleanup(func() { r.PreferGo, r.Dial = preferGo, dial })
	r.PreferGo = true
	r.Dial = func(context.Context, string, string) (net.Conn, error) {
		queries.Add(1)
		return nil, errors.New("redistest: no DNS in this test")
	}
	return &queries
}
