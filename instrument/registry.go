package instrument

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/pools"
)

// ErrAlreadyObserved is wrapped by the error New and NewClient return when
// what they were given (a *pools.Pools, one of its clients, a client, a
// cluster or a ring) is already observed through the same MeterProvider by
// an Instrumentation that is not closed. A second one would report the
// same connections twice: every gauge doubled, every histogram sample
// twice, or the same connections under a second pool name. The same
// client observed through two different MeterProviders (a library's and
// the application's) is supported.
var ErrAlreadyObserved = errors.New("instrument: already observed through this MeterProvider")

// observed lists the open Instrumentations per MeterProvider, so that New
// and NewClient can refuse a second observation of the same pools within
// one provider. Like the go-redis recorder it is process-wide: two
// packages of one program that instrument the same client do not know of
// each other.
var observed struct {
	mu         sync.Mutex
	byProvider map[metric.MeterProvider][]*Instrumentation
}

// claim registers i for its MeterProvider, or returns why it would
// duplicate an open Instrumentation. A MeterProvider that cannot be a map
// key (a struct value holding a slice, say) is not checked.
func claim(i *Instrumentation) error {
	mp := i.cfg.meterProvider
	if !reflect.ValueOf(mp).Comparable() {
		return nil
	}
	observed.mu.Lock()
	defer observed.mu.Unlock()
	for _, e := range observed.byProvider[mp] {
		if what := overlap(i.target, e); what != "" {
			return fmt.Errorf("%w: %s is observed by an Instrumentation that is not closed; a second one would report its connections twice (Close the first, or give each its own MeterProvider)", ErrAlreadyObserved, what)
		}
	}
	if observed.byProvider == nil {
		observed.byProvider = map[metric.MeterProvider][]*Instrumentation{}
	}
	observed.byProvider[mp] = append(observed.byProvider[mp], i)
	return nil
}

// unclaim removes i from the registry (Close).
func unclaim(i *Instrumentation) {
	mp := i.cfg.meterProvider
	if !reflect.ValueOf(mp).Comparable() {
		return
	}
	observed.mu.Lock()
	defer observed.mu.Unlock()
	list := observed.byProvider[mp]
	for k, e := range list {
		if e == i {
			list = append(list[:k:k], list[k+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(observed.byProvider, mp)
	} else {
		observed.byProvider[mp] = list
	}
}

// overlap names what t shares with e's target, "" when nothing.
func overlap(t target, e *Instrumentation) string {
	switch {
	case t.pools != nil:
		if e.target.pools == t.pools {
			return "the *pools.Pools"
		}
		for _, r := range pools.Roles {
			for _, c := range t.pools.Clients(r) {
				if e.covers(c) {
					return fmt.Sprintf("the %s pool's client %s", r, clientLabel(c))
				}
			}
		}
	case t.client != nil:
		if e.covers(t.client) {
			return "the client " + clientLabel(t.client)
		}
	case t.sharded != nil:
		if e.target.sharded == t.sharded {
			return fmt.Sprintf("the %T", t.sharded)
		}
	}
	return ""
}

// covers reports whether i observes c: as its client, as a client of its
// *pools.Pools, or as a node of its cluster or ring.
func (i *Instrumentation) covers(c *redis.Client) bool {
	switch {
	case i.target.client != nil:
		return i.target.client == c
	case i.target.pools != nil:
		for _, r := range pools.Roles {
			for _, pc := range i.target.pools.Clients(r) {
				if pc == c {
					return true
				}
			}
		}
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.nodes[c]
}

// clientLabel names a client in an error: its address and database (never
// its credentials).
func clientLabel(c *redis.Client) string {
	o := c.Options()
	return fmt.Sprintf("%q (database %d)", o.Addr, o.DB)
}
