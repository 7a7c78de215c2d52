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
