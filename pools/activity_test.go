package pools

import (
	"net"
	"testing"
)

// nullConn is a net.Conn whose reads and writes do nothing: the cost
// measured is the wrapper's alone.
type nullConn struct{ net.Conn }

func (nullConn) Write(b []byte) (int, error) { return len(b), nil }
func (nullConn) Read(b []byte) (int, error)  { return len(b), nil }
func (nullConn) Close() error                { return nil }

// BenchmarkActivityConn is what the pool-timeout diagnosis adds to one
// command on a connection: a write and a read through the wrapper ("watched")
// against the same calls on the bare connection ("bare").
func BenchmarkActivityConn(b *testing.B) {
	buf := make([]byte, 16)
	for _, tc := range []struct {
		name string
		conn net.Conn
	}{{"bare", nullConn{}}, {"watched", newConnSet().watch(nullConn{})}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = tc.conn.Write(buf)
				_, _ = tc.conn.Read(buf)
			}
		})
	}
}

// TestActivityConnAllocatesNothing: a command's write and read through the
// wrapper allocate nothing.
func TestActivityConnAllocatesNothing(t *testing.T) {
	c, buf := newConnSet().watch(nullConn{}), make([]byte, 16)
	if n := testing.AllocsPerRun(100, func() {
		_, _ = c.Write(buf)
		_, _ = c.Read(buf)
	}); n != 0 {
		t.Errorf("%v allocations per command, want 0", n)
	}
}
