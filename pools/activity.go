package pools

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// activityConn remembers when its last command was sent and whether a
// reply has come since, for the pool-timeout diagnosis (see
// PoolTimeoutError). A command costs one clock read, two atomic stores and
// a load; the diagnosis reads them only when a caller times out.
type activityConn struct {
	net.Conn
	conns *connSet
	// sent is when the last command was written (nanotime, > 0), negated
	// once a reply has been read.
	sent atomic.Int64
}

// activitySyscallConn keeps go-redis's liveness check working: go-redis
// peeks at the socket only when the pooled net.Conn is a syscall.Conn. A
// TLS connection is not one and must not look like one.
type activitySyscallConn struct {
	*activityConn
	sys syscall.Conn
}

func (c activitySyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sys.SyscallConn() }

// NetConn returns the dialled connection, as crypto/tls.Conn does.
func (c *activityConn) NetConn() net.Conn { return c.Conn }

func (c *activityConn) Write(b []byte) (int, error) {
	c.sent.Store(nanotime())
	return c.Conn.Write(b)
}

func (c *activityConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if v := c.sent.Load(); n > 0 && v > 0 {
		c.sent.Store(-v)
	}
	return n, err
}

func (c *activityConn) Close() error {
	c.conns.remove(c)
	return c.Conn.Close()
}

// epoch anchors nanotime, a monotonic clock as int64 nanoseconds, never 0.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) + 1 }

// connSet is the open connections of one shared client.
type connSet struct {
	mu    sync.Mutex
	conns map[*activityConn]struct{}
}

func newConnSet() *connSet { return &connSet{conns: map[*activityConn]struct{}{}} }

// watch wraps conn and adds it to the set.
func (s *connSet) watch(conn net.Conn) net.Conn {
	c := &activityConn{Conn: conn, conns: s}
	c.sent.Store(-nanotime()) // the dial is its first use
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	if sys, ok := conn.(syscall.Conn); ok {
		return activitySyscallConn{activityConn: c, sys: sys}
	}
	return c
}

func (s *connSet) remove(c *activityConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// connActivity is one connection's state at a diagnosis.
type connActivity struct {
	since    time.Duration // since its last command was sent
	awaiting bool          // no reply to it yet
}

func (s *connSet) activity() []connActivity {
	now := nanotime()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]connActivity, 0, len(s.conns))
	for c := range s.conns {
		sent := c.sent.Load()
		out = append(out, connActivity{since: time.Duration(now - max(sent, -sent)), awaiting: sent > 0})
	}
	return out
}
