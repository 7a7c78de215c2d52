package pools

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DialFunc dials one connection to a Redis server; it has the signature of
// redis.Options.Dialer. With TLS, the connection it returns has finished its
// TLS handshake (Redis's HELLO and CLIENT SETNAME come later, from go-redis).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DialWrapper wraps the dialer of a role's clients: it returns a DialFunc
// that calls next (or not) and may wrap the connection it returns.
type DialWrapper func(role Role, next DialFunc) DialFunc

// WithDialWrapper wraps every dial of the role clients that New and Client
// create, shared and disabled-role alike, from the first connection on: the
// async pool's pre-dialled MIN connections go through it too, which a
// go-redis DialHook added after New cannot see. Health-check connections
// do not go through it. Several wrappers nest in the order given, the first
// outermost. With Sentinel, the dials to the Sentinels go through it as
// well (go-redis uses one dialer for both).
//
// A wrapper runs on go-redis's dial path: it must return promptly when ctx
// ends, and close any connection it does not return.
func WithDialWrapper(w DialWrapper) Option {
	return optionFunc(func(o *options) {
		if w != nil {
			o.dialWrappers = append(o.dialWrappers, w)
		}
	})
}

// Bounds of the dial back-off of shared pools: after a failed dial the pool
// refuses new dials for dialBackoffMin, doubling with each consecutive
// failure up to dialBackoffMax, so that a broken server is probed about
// twice a second per pool instead of once per caller per retry. The cap is
// also how long this gate may go on refusing after the server is back, so it
// stays well under a second; go-redis's own dial breaker (a probe once a
// second after ten failed dials) adds to it: a pool serves again about a
// second after its server returns (RELIABILITY.md, TestServerKilledUnderLoad).
const (
	dialBackoffMin = 50 * time.Millisecond
	dialBackoffMax = 500 * time.Millisecond
)

// dialGate bounds a shared pool's dials: at most a few run at once (a
// thousand callers finding an empty pool must not start a thousand TLS
// handshakes), and after a failed dial to an address further dials to it
// fail at once with the last error until the back-off ends. A success ends
// the back-off. Failures are kept per address, so that one dead replica or
// Sentinel does not stop dials to the others.
type dialGate struct {
	role  Role
	slots chan struct{}

	mu     sync.Mutex
	failed map[string]*dialFailures // by address; removed on success
}

type dialFailures struct {
	count   int // consecutive failed dials
	until   time.Time
	lastErr error
}

// dialConcurrency is how many dials a shared pool of size connections runs
// at once: a quarter of the cap, at least one. A healthy server answers a
// dial in well under a millisecond, so this still fills a pool within a few
// round trips, while a server that hangs or fails handshakes holds at most
// a quarter of the cap's worth of half-open connections and TLS state.
func dialConcurrency(size int) int { return max(1, size/4) }

func newDialGate(role Role, size int) *dialGate {
	return &dialGate{role: role, slots: make(chan struct{}, dialConcurrency(size)), failed: map[string]*dialFailures{}}
}

// DialBackoffError is returned instead of dialling while a pool backs off
// from an address whose last dials failed. Err is the last dial error; the
// error does not unwrap to it on purpose: go-redis retries a command whose
// error unwraps to a dial error, and during a back-off every retry would
// only meet the back-off again, making callers wait for nothing.
type DialBackoffError struct {
	Role     Role
	Addr     string
	Failures int   // consecutive failed dials
	Err      error // the last dial error
}

func (e *DialBackoffError) Error() string {
	dials := "dials"
	if e.Failures == 1 {
		dials = "dial"
	}
	return fmt.Sprintf("pools: %s pool: not dialling %s for now after %d failed %s in a row: %v", e.Role, e.Addr, e.Failures, dials, e.Err)
}

func (g *dialGate) wrap(next DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := g.backingOff(addr); err != nil {
			return nil, err
		}
		select {
		case g.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-g.slots }()
		// A dial that waited for a slot may find the address marked broken.
		if err := g.backingOff(addr); err != nil {
			return nil, err
		}
		conn, err := next(ctx, network, addr)
		g.result(ctx, addr, err)
		return conn, err
	}
}

func (g *dialGate) backingOff(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.failed[addr]
	if f == nil || !time.Now().Before(f.until) {
		return nil
	}
	return &DialBackoffError{Role: g.role, Addr: addr, Failures: f.count, Err: f.lastErr}
}

func (g *dialGate) result(ctx context.Context, addr string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		delete(g.failed, addr)
		return
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return // the caller gave up: that says nothing about the server
	}
	f := g.failed[addr]
	if f == nil {
		f = &dialFailures{}
		g.failed[addr] = f
	}
	f.count++
	f.lastErr = err
	f.until = time.Now().Add(min(dialBackoffMin<<min(f.count-1, 10), dialBackoffMax))
}

// dialerFor builds the Dialer of a role client: go-redis's own dialer for
// o (TCP or unix, then TLS when o.TLSConfig is set), its connections
// named on the server at once when the pool keeps a minimum (announce),
// wrapped to name a server that closes them unanswered (ServerClosedError),
// inside the shared pool's dial gate, inside the WithDialWrapper wrappers,
// inside the timing that TakeDialTimes hands over (shared pools only).
//
// conns, when not nil, watches the connections to the pool's servers (not
// to the Sentinels) for the pool-timeout diagnosis.
func (p *Pools) dialerFor(role Role, o *redis.Options, gate *dialGate, conns *connSet) DialFunc {
	if o.DialTimeout == 0 {
		// redis.NewDialer reads it at every dial; go-redis fills its
		// default into its own copy of the options, not into o.
		o.DialTimeout = 5 * time.Second
	}
	dial := redis.NewDialer(o)
	d := DialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if o.MinIdleConns > 0 {
			if err := announce(ctx, conn, o, role, addr); err != nil {
				_ = conn.Close()
				return nil, err
			}
		}
		conn = withFirstReply(conn, role, addr)
		if conns != nil && !slices.Contains(p.cfg.Sentinel.Addrs, addr) {
			conn = conns.watch(conn)
		}
		return conn, nil
	})
	if gate != nil {
		d = gate.wrap(d)
	}
	for i := len(p.dialWrappers) - 1; i >= 0; i-- {
		d = p.dialWrappers[i](role, d)
	}
	if gate != nil {
		d = p.dialTimes.wrap(role, d)
	}
	return d
}
