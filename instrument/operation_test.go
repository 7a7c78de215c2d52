package instrument

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestCommandOf(t *testing.T) {
	tests := []struct{ name, want string }{
		{"get", "GET"},
		{"GET", "GET"},
		{"hGetAll", "HGETALL"},
		{"evalsha_ro", "EVALSHA_RO"},
		{"PIPELINE", "PIPELINE"},
		{"MULTI", "MULTI"},
		{"object", opOther},
		{"", opOther},
		{strings.Repeat("get", 20), opOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commandNames[commandOf(tt.name)]; got != tt.want {
				t.Errorf("commandOf(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
	if got := commandNames[commandOfCmd(redis.NewCmd(context.Background(), []byte("get")))]; got != opOther {
		t.Errorf("a command named by a []byte: %q, want %q", got, opOther)
	}
}

// TestCachedCommandOf: the cache gives commandOf's answer for constant
// names, names built at run time (a new address each time) and names that
// share a slot, and allocates nothing once warm.
func TestCachedCommandOf(t *testing.T) {
	names := []string{"get", "set", "GET", "hgetall", "object", "", "PIPELINE"}
	for _, l := range []string{"zadd", "lpush", "xadd"} {
		names = append(names, strings.Clone(l), strings.ToUpper(l)) // run-time strings
	}
	for range 3 {
		for _, name := range names {
			if got, want := cachedCommandOf(name), commandOf(name); got != want {
				t.Errorf("cachedCommandOf(%q) = %q, want %q", name, commandNames[got], commandNames[want])
			}
		}
	}
	// Fill every slot, as a long-running program's names do: a slot is
	// filled once (one allocation), then never again.
	empty := func() bool {
		for i := range commandCache {
			if commandCache[i].Load() == nil {
				return true
			}
		}
		return false
	}
	for i := 0; i < 100000 && empty(); i++ {
		cachedCommandOf(strings.Repeat("x", 1+i%7))
	}
	if empty() {
		t.Fatal("100000 names left a slot of the command cache empty")
	}
	built := strings.Clone("incr")
	if allocs := testing.AllocsPerRun(100, func() {
		cachedCommandOf("get")
		cachedCommandOf(built)
		cachedCommandOf(strings.Repeat("x", 3)) // an address never seen
	}); allocs > 1 { // strings.Repeat's own
		t.Errorf("%v allocations per call, want none beyond the test's own", allocs)
	}
}

func TestErrorTypeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"success", nil, ""},
		{"missing key", redis.Nil, ""},
		{"pool timeout", redis.ErrPoolTimeout, "pool_timeout"},
		{"context deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), "timeout"},
		{"read deadline", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, "timeout"},
		{"canceled", context.Canceled, "canceled"},
		{"client closed", redis.ErrClosed, "client_closed"},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, "io"},
		{"eof", io.EOF, "io"},
		{"anything else", errors.New("something"), errorTypeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorTypes[errorTypeOf(tt.err)]; got != tt.want {
				t.Errorf("errorTypeOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
