package instrument

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// epoch anchors the monotonic timestamps that connections keep as int64
// nanoseconds (an atomic int64 is cheaper to store than a time.Time).
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// trackedConn is the net.Conn poolscope's dial hook hands to go-redis in
// place of the dialled one. go-redis keeps it inside its pool connection
// and gives it back through ConnInfo on every recorder call: that is how a
// recorder event is tied to its pool (ConnInfo.PoolName is go-redis's own
// random name, unknown outside go-redis). It also holds the connection's
// dial time (for its lifetime) and borrow time (for use_time).
//
// Wrapping costs one allocation per dial; the command and close paths
// allocate nothing. The wrapper can never be reused for another connection:
// go-redis may still call a closed connection's methods.
type trackedConn struct {
	net.Conn
	pool      *observedPool
	idleLimit time.Duration // the client's ConnMaxIdleTime, 0 when off
	dialedAt  int64         // nanotime
	closeDone atomic.Bool   // the close has been recorded
	// named: its pool's name has been learnt.
	named atomic.Bool
	// ready is set when go-redis reports the connection's create time,
	// which it does once its set-up commands (HELLO, AUTH, CLIENT SETNAME,
	// ...) are done: those are part of create_time, not operations of the
	// program, and db.client.operation.duration leaves them out.
	ready atomic.Bool
	// shard spreads the pool's histogram updates (see atomicHistogram).
	shard uint32

	// borrowedAt is when a caller got the connection (nanotime), 0 while
	// no caller holds it (see demand). Written twice per command, it has
	// a cache line of its own: go-redis dials a pool's connections one
	// after the other, so their wrappers are neighbours in memory, and
	// without the padding a core writing one connection's borrowedAt
	// would evict the fields of the connection another core is using.
	_          [64]byte
	borrowedAt atomic.Int64
	_          [64]byte
}

// trackedSyscallConn is a trackedConn around a connection that is a
// syscall.Conn (TCP, unix). go-redis's liveness check peeks at the socket
// only when the pooled net.Conn itself implements syscall.Conn: hiding it
// would silently turn that check off. A TLS connection is not one and must
// not look like one (go-redis then unwraps it through NetConn).
type trackedSyscallConn struct {
	trackedConn
	sys syscall.Conn
}

// SyscallConn gives go-redis's liveness check the socket.
func (c *trackedSyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sys.SyscallConn() }

// NetConn returns the dialled connection, as crypto/tls.Conn does, so that
// code unwrapping connections reaches the transport.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

// Close closes the connection. When go-redis closed it without telling the
// recorder first (pub/sub connections, a dial that lost a race for the
// pool's last slot, or a recorder that another library replaced), the close
// is recorded here with reason "other", so that closes and lifetimes are
// never lost.
func (c *trackedConn) Close() error {
	c.recordClose(context.Background(), reasonOther)
	return c.Conn.Close()
}

// recordClose records the connection's close once.
func (c *trackedConn) recordClose(ctx context.Context, r closeReason) {
	if c.pool.closed.Load() || !c.closeDone.CompareAndSwap(false, true) {
		return
	}
	c.pool.recordClose(ctx, r, time.Duration(nanotime()-c.dialedAt), c.shard)
}

func track(conn net.Conn, p *observedPool, idleLimit time.Duration) net.Conn {
	if sys, ok := conn.(syscall.Conn); ok {
		t := &trackedSyscallConn{sys: sys}
		t.init(conn, p, idleLimit)
		return t
	}
	t := &trackedConn{}
	t.init(conn, p, idleLimit)
	return t
}

func (c *trackedConn) init(conn net.Conn, p *observedPool, idleLimit time.Duration) {
	c.Conn, c.pool, c.idleLimit, c.dialedAt = conn, p, idleLimit, nanotime()
	c.shard = nextShard.Add(1)
}

// nextShard numbers connections for their shard.
var nextShard atomic.Uint32

// netConnHolder is implemented by go-redis's pool connection, which is
// what a ConnInfo holds.
type netConnHolder interface{ GetNetConn() net.Conn }

// trackedFrom finds poolscope's outermost wrapper in a recorder event's
// connection; nil for a connection of a client poolscope does not observe.
// A client instrumented twice (say by a library and by the application,
// each with its own MeterProvider) has one wrapper inside the other: the
// recorder walks them all with next.
func trackedFrom(cn redis.ConnInfo) *trackedConn {
	h, ok := cn.(netConnHolder)
	if !ok {
		return nil
	}
	return asTracked(h.GetNetConn())
}

// next is the wrapper inside c, if any.
func (c *trackedConn) next() *trackedConn { return asTracked(c.Conn) }

func asTracked(conn net.Conn) *trackedConn {
	switch c := conn.(type) {
	case *trackedSyscallConn:
		return &c.trackedConn
	case *trackedConn:
		return c
	}
	return nil
}

// dialHook wraps every connection a client dials. It adds no per-command
// work: its process hooks return the next hook unchanged.
type dialHook struct {
	pool      *observedPool
	idleLimit time.Duration
}

var _ redis.Hook = (*dialHook)(nil)

func newDialHook(p *observedPool, o *redis.Options) *dialHook {
	h := &dialHook{pool: p}
	if o.ConnMaxIdleTime > 0 { // go-redis: -1 is off; 0 was replaced by its 30 min default
		h.idleLimit = o.ConnMaxIdleTime
	}
	return h
}

func (h *dialHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil || conn == nil || h.pool.closed.Load() {
			return conn, err
		}
		return track(conn, h.pool, h.idleLimit), nil
	}
}

func (h *dialHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *dialHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
