package instrument

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestDemandFollowsGoRedisEvents replays go-redis v9.23's recorder calls
// for the acquisitions that a sum of its "used" and pending counts would
// get wrong: a caller is counted once between its "used" +1 and its
// pending -1, and a stale idle connection closed while its caller goes on
// waiting does not count.
func TestDemandFollowsGoRedisEvents(t *testing.T) {
	ctx := context.Background()
	p, _ := testPool(t)
	conn := func() *fakeConnInfo {
		raw, peer := net.Pipe()
		t.Cleanup(func() { _ = raw.Close(); _ = peer.Close() })
		return &fakeConnInfo{conn: track(raw, p, 0), expires: time.Now().Add(time.Hour)}
	}
	a, b := conn(), conn()
	name := a.PoolName()
	r := recorder{}
	step := func(what string, wantNow, wantMax int64) {
		t.Helper()
		if now, peak := p.demand.now.Load(), p.demand.max.Load(); now != wantNow || peak != wantMax {
			t.Fatalf("after %s: demand now %d, max %d; want %d, %d", what, now, peak, wantNow, wantMax)
		}
	}

	// The first acquisition teaches the pool's name: its +1 is not seen.
	r.RecordPendingRequests(ctx, 1, nil, name)
	r.RecordConnectionCount(ctx, 1, a, "used", false)
	r.RecordPendingRequests(ctx, -1, a, name)
	r.RecordConnectionCount(ctx, -1, a, "used", false)
	step("the acquisition that learns the name", 0, 0)

	// Caller 1 holds a; caller 2 arrives, finds a stale idle connection b
	// (closed: "used" +1 then -1) and waits on.
	r.RecordPendingRequests(ctx, 1, nil, name)
	r.RecordConnectionCount(ctx, 1, a, "used", false)
	step("caller 1 between used +1 and pending -1", 1, 1)
	r.RecordPendingRequests(ctx, -1, a, name)
	step("caller 1 holding", 1, 1)
	r.RecordPendingRequests(ctx, 1, nil, name)
	r.RecordConnectionCount(ctx, 1, b, "used", false)
	r.RecordConnectionCount(ctx, -1, b, "used", false)
	step("caller 2 waiting after a stale connection", 2, 2)

	// Caller 1 gives a back; caller 2 takes it; caller 2 gives it back.
	r.RecordConnectionCount(ctx, -1, a, "used", false)
	r.RecordConnectionCount(ctx, 1, a, "used", false)
	r.RecordPendingRequests(ctx, -1, a, name)
	step("caller 2 holding", 1, 2)
	r.RecordConnectionCount(ctx, -1, a, "used", false)
	step("idle", 0, 2)

	// A caller that gives up.
	r.RecordPendingRequests(ctx, 1, nil, name)
	r.RecordPendingRequests(ctx, -1, nil, name)
	step("a caller that timed out", 0, 2)

	if got := p.demand.collect(); got != 2 {
		t.Errorf("collect = %d, want the interval's peak, 2", got)
	}
	if got := p.demand.collect(); got != 0 {
		t.Errorf("collect = %d in an idle interval, want 0", got)
	}
}
