package pools

import "github.com/redis/go-redis/v9"

// DefaultLegacyClients is how many clients a disabled role hands out in
// turn unless WithLegacyClients says otherwise: a service's usual handful
// of components that each made their own go-redis client before pooling.
// With go-redis's defaults (PoolSize 10 x GOMAXPROCS, plus a pipeline pool
// of up to 10) a disabled role then holds at most
// 10 x (10 x GOMAXPROCS + 10) connections however many times Client is
// called: 300 on two cores.
const DefaultLegacyClients = 10

// WithLegacyClients sets how many go-redis clients a disabled role hands
// out in turn (default DefaultLegacyClients). Set it to the number of
// components that each asked for their own client before pooling, so that
// "pool off" reproduces that program: n clients, each with go-redis's own
// default pool. Values below 1 keep the default.
func WithLegacyClients(n int) Option {
	return optionFunc(func(o *options) {
		if n >= 1 {
			o.legacyClients = n
		}
	})
}

// legacyClients are a disabled role's clients: a fixed number of slots,
// handed out in turn. A slot's client is made when the slot is first
// reached, and made again after every holder gave it back with CloseClient.
//
// Why a fixed set: code written for an enabled pool asks for a client
// wherever it needs one, per request included ("the same shared client
// everywhere"). When a new client was made per call, that code opened a
// new pool per request when an operator turned the flag off, and held
// every connection until the garbage collector found the clients: 3,000
// to 10,000 server connections within seconds, until Redis refused more
// (issue 15). Reusing n clients keeps connections, fds and memory bounded
// by n go-redis default pools whatever the number of calls, without
// waiting for a garbage collection, while "pool off" still means what the
// comparison needs: separate clients, each with go-redis's own pool.
// The alternatives were rejected: a client per call site guesses
// components from program counters (a loop that asks once per component
// would get one client); closing clients once unreachable depends on the
// collector running, which the flag must not.
type legacyClients struct {
	slots []legacySlot
	next  int // the slot the next Client call gets
}

type legacySlot struct {
	c *redis.Client
	// holders counts the Client calls that returned c and were not given
	// back with CloseClient; the client is closed when it reaches zero.
	holders int
	// ready is closed once the watchers have seen c (see Pools.Client), so
	// that no caller uses c before instrument has hooked it.
	ready chan struct{}
}

func newLegacyClients(n int) *legacyClients {
	return &legacyClients{slots: make([]legacySlot, n)}
}

// take returns the next slot's client, making it with mk when the slot is
// empty (created true: the caller runs the watchers, then closes ready).
// The caller holds Pools.mu.
func (l *legacyClients) take(mk func() *redis.Client) (c *redis.Client, ready chan struct{}, created bool) {
	s := &l.slots[l.next]
	l.next = (l.next + 1) % len(l.slots)
	if s.c == nil {
		s.c, s.ready, created = mk(), make(chan struct{}), true
	}
	s.holders++
	return s.c, s.ready, created
}

// giveBack ends one holder's use of c; it reports whether c is one of the
// slots' clients and whether it is now to be closed (its last holder gave
// it back, and its slot is free for a new client). The caller holds
// Pools.mu.
func (l *legacyClients) giveBack(c *redis.Client) (ours, last bool) {
	for i := range l.slots {
		s := &l.slots[i]
		if s.c != c {
			continue
		}
		s.holders--
		if s.holders > 0 {
			return true, false
		}
		*s = legacySlot{}
		return true, true
	}
	return false, false
}

// clients lists the slots' current clients.
func (l *legacyClients) clients() []*redis.Client {
	var out []*redis.Client
	for _, s := range l.slots {
		if s.c != nil {
			out = append(out, s.c)
		}
	}
	return out
}

// legacyFor returns the role's legacy clients, creating the set on first
// use. The caller holds Pools.mu.
func (p *Pools) legacyFor(r Role) *legacyClients {
	l := p.legacy[r]
	if l == nil {
		l = newLegacyClients(p.legacyClients)
		p.legacy[r] = l
	}
	return l
}

// legacyClient is Client for a disabled role; after Close, a closed client.
func (p *Pools) legacyClient(rc RoleConfig) *redis.Client {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c := p.newClient(rc, false)
		_ = c.Close()
		return c
	}
	c, ready, created := p.legacyFor(rc.Role).take(func() *redis.Client { return p.newClient(rc, false) })
	if !created {
		p.mu.Unlock()
		<-ready
		return c
	}
	watchers := append([]*clientWatcher(nil), p.watchers...)
	p.mu.Unlock()
	defer close(ready)
	for _, w := range watchers {
		if w.added != nil {
			w.added(rc.Role, c)
		}
	}
	return c
}
