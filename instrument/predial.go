package instrument

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/poolscope/poolscope/pools"
)

// maxPendingDials bounds how many dial times a PoolsDialTimer keeps before
// New attaches it: the async pool's MIN connections and whatever a program
// dials before instrumenting, not an unbounded backlog.
const maxPendingDials = 1024

// PoolsDialTimer times the dials of a *pools.Pools made before New can hook
// its clients. pools.New dials the async pool's MIN connections itself, so
// without it they are missing from db.client.connection.create_time. Give
// its Option to pools.New and the timer to New:
//
//	timer := instrument.NewPoolsDialTimer()
//	p, err := pools.New(cfg, timer.PoolsOption())
//	...
//	i, err := instrument.New(p, instrument.WithPoolsDialTimer(timer))
//
// Until New attaches it, the timer keeps the duration of every successful
// dial (TCP or unix connect, plus the TLS handshake) per role, at most
// 1024; New records them into create_time. From then on it only passes
// dials through: go-redis reports the create time of later connections
// (dial plus Redis handshake), so none is counted twice. A pre-dialled
// connection's create time is its dial with the AUTH and CLIENT SETNAME
// pools sends to name it; go-redis's HELLO comes at first use. Their closes and lifetimes are still not
// reported (New wraps only the connections dialled after it).
type PoolsDialTimer struct {
	mu      sync.Mutex
	bound   bool
	byRole  map[pools.Role]*observedPool // set when New attaches the timer
	pending []pendingDial
	dropped int // dials not kept because pending was full
}

type pendingDial struct {
	role pools.Role
	d    time.Duration
}

// NewPoolsDialTimer returns a timer for one *pools.Pools.
func NewPoolsDialTimer() *PoolsDialTimer { return &PoolsDialTimer{} }

// PoolsOption is the pools.New option that routes every dial through t.
func (t *PoolsDialTimer) PoolsOption() pools.Option { return pools.WithDialWrapper(t.wrap) }

func (t *PoolsDialTimer) wrap(role pools.Role, next pools.DialFunc) pools.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		t.mu.Lock()
		bound := t.bound
		t.mu.Unlock()
		if bound {
			return next(ctx, network, addr)
		}
		start := time.Now()
		conn, err := next(ctx, network, addr)
		if err != nil {
			return conn, err
		}
		d := time.Since(start)
		t.mu.Lock()
		var late *observedPool
		switch {
		case t.bound:
			// New attached the timer while this dial ran: the dial began
			// before New hooked the clients, so go-redis will not report
			// it; record it now.
			late = t.byRole[role]
		case len(t.pending) < maxPendingDials:
			t.pending = append(t.pending, pendingDial{role, d})
		default:
			t.dropped++
		}
		t.mu.Unlock()
		if late != nil && !late.closed.Load() {
			late.sets.createTime.record(ctx, d, 0)
		}
		return conn, nil
	}
}

// WithPoolsDialTimer makes New record the dial times t kept before New ran
// (see PoolsDialTimer). It applies to a *pools.Pools only.
func WithPoolsDialTimer(t *PoolsDialTimer) Option {
	return optionFunc(func(c config) config {
		c.dialTimer = t
		return c
	})
}

// attach records the kept dial times into their pools and stops keeping
// new ones. New calls it before hooking the clients: a dial that starts
// after it is reported by go-redis, one that started before by the timer,
// so none is counted twice. A timer attaches once; a second
// Instrumentation gets nothing from it.
func (t *PoolsDialTimer) attach(byRole map[pools.Role]*observedPool) {
	t.mu.Lock()
	if t.bound {
		t.mu.Unlock()
		return
	}
	pending := t.pending
	t.pending, t.bound, t.byRole = nil, true, byRole
	t.mu.Unlock()
	ctx := context.Background()
	for _, pd := range pending {
		if p := byRole[pd.role]; p != nil && !p.closed.Load() {
			p.sets.createTime.record(ctx, pd.d, 0)
		}
	}
}
