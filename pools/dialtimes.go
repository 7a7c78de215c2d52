package pools

import (
	"context"
	"net"
	"sync"
	"time"
)

// maxKeptDials bounds how many dial times the Pools keep until
// TakeDialTimes: the async pool's MIN connections and whatever a program
// dials before instrumenting, not an unbounded backlog.
const maxKeptDials = 1024

// DialTime is how long one successful dial of a shared pool's connection
// took: the TCP or unix connect and the TLS handshake, plus, for a pool
// with a minimum, the AUTH and CLIENT SETNAME that name the connection.
type DialTime struct {
	Role     Role
	Duration time.Duration
}

// dialTimes times the shared pools' dials until an instrumentation takes
// them. pools.New dials the async pool's MIN connections itself, before
// any caller could hook the clients: without these times those
// connections would have no create time.
type dialTimes struct {
	mu    sync.Mutex
	taken bool
	late  func(DialTime) // set by TakeDialTimes
	kept  []DialTime     // at most maxKeptDials; later ones are not kept
}

// TakeDialTimes is for instrumentation that hooks the role clients after
// New (instrument.New calls it before adding its hooks). It returns the
// times of the shared pools' dials that completed so far, at most 1024,
// kept from New on; from then on it calls late (from the dialling
// goroutine) for each dial that had started before the call and completes
// after it, since a hook added now does not see that dial. Dials that
// start after the call are not timed: the hooks see them. Only the first
// call gets the times; later calls return nil and late is never called.
func (p *Pools) TakeDialTimes(late func(DialTime)) []DialTime {
	t := p.dialTimes
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.taken {
		return nil
	}
	kept := t.kept
	t.kept, t.taken, t.late = nil, true, late
	return kept
}

// wrap times next's successful dials while nobody has taken the times.
func (t *dialTimes) wrap(role Role, next DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		t.mu.Lock()
		taken := t.taken
		t.mu.Unlock()
		if taken {
			return next(ctx, network, addr)
		}
		start := time.Now()
		conn, err := next(ctx, network, addr)
		if err != nil {
			return conn, err
		}
		t.record(DialTime{Role: role, Duration: time.Since(start)})
		return conn, nil
	}
}

// record keeps d, or hands it to late when the times were taken while
// the dial ran.
func (t *dialTimes) record(d DialTime) {
	t.mu.Lock()
	var late func(DialTime)
	switch {
	case t.taken:
		late = t.late
	case len(t.kept) < maxKeptDials:
		t.kept = append(t.kept, d)
	}
	t.mu.Unlock()
	if late != nil {
		late(d)
	}
}
