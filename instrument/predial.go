package instrument

import (
	"context"

	"github.com/poolscope/poolscope/pools"
)

// recordEarlyDials records into create_time the dials that the pools made
// before New could hook their clients: pools.New dials the async pool's
// MIN connections itself, and go-redis does not report a dial made before
// the hook. New calls it before hooking the clients: a dial that starts
// after it is reported by go-redis, one that started before by
// TakeDialTimes (at once, or through late when it was still running), so
// none is counted twice. A pre-dialled connection's create time is its
// dial with the AUTH and CLIENT SETNAME pools sends to name it; go-redis's
// HELLO comes at first use. Their closes and lifetimes are still not
// reported (New wraps only the connections dialled after it). Only the
// first Instrumentation of a *pools.Pools gets these times.
func recordEarlyDials(ps *pools.Pools, byRole map[pools.Role]*observedPool) {
	record := func(d pools.DialTime) {
		if p := byRole[d.Role]; p != nil && !p.closed.Load() {
			p.sets.createTime.record(context.Background(), d.Duration, 0)
		}
	}
	for _, d := range ps.TakeDialTimes(record) {
		record(d)
	}
}
