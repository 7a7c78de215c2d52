package advise

import (
	"fmt"
	"math"
)

// serverBusyLimit is the busy share of the server's main thread above which
// the server is the bottleneck: a single-threaded server busy 80% of the
// time keeps each command waiting, on average, for 4 others (M/M/1:
// ρ/(1-ρ)), and more connections only lengthen that queue.
const serverBusyLimit = 0.8

// saturatedSize is the most connections per process a saturated
// single-threaded server can use: one command being executed, one queued
// behind it so that the server never waits for the next, and one on its
// way back through the network and the pool to the next caller (on a busy
// client host that hand-over takes long enough for the server to run dry
// with two: the benchmark's slow-server shape at 2 connections met the
// oracle's criterion in one run and missed it in the next). Every further
// connection only waits inside the server instead of in the pool. This
// assumes the round trip is shorter than the server's time per acquisition
// (docs/advise.md, "Limits").
const saturatedSize = 3

// saturated judges a pool in front of a server measured busy (the median
// loaded interval's busy share at least serverBusyLimit): no more than
// saturatedSize connections, fewer when the model asks for fewer.
func (c config) saturated(a PoolAdvice, p Pool, d demand) PoolAdvice {
	model := a.ModelSize
	a.ModelSize = min(model, saturatedSize)
	a.ExpectedWaitP99 = math.NaN() // the queue moves between pool and server
	a.waitAtSize, a.p99AtSize = nil, nil
	if model > a.ModelSize {
		a.Criterion = CriterionServerBusy
	}
	why := fmt.Sprintf("%s: a single-threaded server executes one command at a time, so %d connections keep it busy and more only queue inside it",
		d.boundWhy, a.ModelSize)
	if model > a.ModelSize {
		why += fmt.Sprintf(" (the callers alone would ask for %d)", model)
	}
	keepUpTo := sizeOf(float64(a.ModelSize)*(1+c.keepMargin)) + 1
	switch {
	case a.ModelSize > p.Max:
		a.Verdict, a.Recommended = Grow, a.ModelSize
	case p.Max > keepUpTo:
		a.Verdict, a.Recommended = Shrink, a.ModelSize
	default:
		a.Verdict, a.Recommended = ServerBound, p.Max
		why = fmt.Sprintf("%s; %d is within %.0f%% (+1) of that", why, p.Max, c.keepMargin*100)
	}
	a.Reason = why
	a.RecommendedMin = min(p.Min, a.Recommended)
	return costs(a, p)
}
