package pools

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
)

// ServerClosedError is returned when a server refuses a new connection: it
// greets it with "-ERR max number of clients reached" (its maxclients
// limit) or closes it before answering anything. go-redis alone reports
// only "write: broken pipe" or EOF there, which says neither which server
// nor why: it reads the greeting as the reply to its HELLO and goes on.
// Err is the greeting as an error, or the I/O error (errors.Is(err,
// syscall.EPIPE) and the like still hold).
type ServerClosedError struct {
	Role Role
	Addr string
	Err  error
}

func (e *ServerClosedError) Error() string {
	if errors.Is(e.Err, errMaxClients) {
		return fmt.Sprintf("pools: %s pool: server %s refused a new connection: max number of clients reached (its maxclients limit)", e.Role, e.Addr)
	}
	return fmt.Sprintf("pools: %s pool: server %s closed a new connection before answering (max number of clients reached, most likely): %v", e.Role, e.Addr, e.Err)
}

func (e *ServerClosedError) Unwrap() error { return e.Err }

// firstReplyConn reports a server that closes a new connection before its
// first reply as a ServerClosedError. After the first byte read it only
// passes calls through (one atomic load per call).
type firstReplyConn struct {
	net.Conn
	role     Role
	addr     string
	answered atomic.Bool
}

// firstReplySyscallConn keeps go-redis's liveness check working: go-redis
// peeks at the socket only when the pooled net.Conn is a syscall.Conn.
type firstReplySyscallConn struct {
	*firstReplyConn
	sys syscall.Conn
}

func (c firstReplySyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sys.SyscallConn() }

// NetConn returns the dialled connection, as crypto/tls.Conn does.
func (c *firstReplyConn) NetConn() net.Conn { return c.Conn }

// maxClientsGreeting is how Redis greets a connection beyond maxclients
// before closing it. go-redis reads it when it looks for push
// notifications ahead of its HELLO, and drops it.
const maxClientsGreeting = "-ERR max number of clients reached"

func (c *firstReplyConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	switch {
	case n > 0 && !c.answered.Load():
		// Passed on, the greeting would read as the reply to HELLO,
		// which go-redis takes for "HELLO not supported" before failing
		// on the closed connection with a bare "broken pipe". Turned into
		// an I/O error, it reaches the caller.
		if bytes.HasPrefix(b[:n], maxClientsGreetingBytes) {
			return 0, c.refused(errMaxClients)
		}
		c.answered.Store(true)
	case err != nil && !c.answered.Load() && closedByPeer(err):
		err = c.refused(err)
	}
	return n, err
}

var maxClientsGreetingBytes = []byte(maxClientsGreeting)

// errMaxClients is the server's greeting as an error.
var errMaxClients = errors.New(maxClientsGreeting[1:])

func (c *firstReplyConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && !c.answered.Load() && closedByPeer(err) {
		err = c.refused(err)
	}
	return n, err
}

// refused builds the error of a refused connection. go-redis strips one
// level of wrapping from a failed connection set-up's error before the
// caller sees it (initPooledConn), so the ServerClosedError goes inside a
// shell that it strips.
func (c *firstReplyConn) refused(err error) error {
	return strippedShell{&ServerClosedError{Role: c.role, Addr: c.addr, Err: err}}
}

// strippedShell is an error that only wraps another, for go-redis to strip.
type strippedShell struct{ err error }

func (s strippedShell) Error() string { return s.err.Error() }
func (s strippedShell) Unwrap() error { return s.err }

func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// withFirstReply wraps plain TCP and unix connections; a TLS server at
// maxclients already fails the TLS handshake, inside the dial.
func withFirstReply(conn net.Conn, role Role, addr string) net.Conn {
	sys, ok := conn.(syscall.Conn)
	if !ok {
		return conn
	}
	return firstReplySyscallConn{firstReplyConn: &firstReplyConn{Conn: conn, role: role, addr: addr}, sys: sys}
}
