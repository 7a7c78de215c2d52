package instrument

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.opentelemetry.io/otel"
)

// ErrRecorderReplaced is passed to otel.Handle when poolscope finds that
// another library replaced its go-redis recorder (redis.SetOTelRecorder keeps
// one recorder per process; the last call wins). From then on go-redis no
// longer reports wait, use and create times or close reasons to poolscope;
// the PoolStats-based metrics and, with reason "other", closes and lifetimes
// go on. Creating another Instrumentation installs poolscope's recorder again.
var ErrRecorderReplaced = errors.New("instrument: another library replaced go-redis's OTel recorder (redis.SetOTelRecorder); wait, use and create times and close reasons are no longer reported")

// recorder is poolscope's go-redis recorder: one per process, shared by
// every Instrumentation. It is stateless: each event is routed to its pool
// through the connection (see trackedConn) and ignored for connections
// poolscope did not dial. Every method on a command's path allocates
// nothing.
type recorder struct{}

var (
	_ redis.OTelRecorder          = recorder{}
	_ redis.OTelConnectionCounter = recorder{}
	_ redis.OTelPoolRegistrar     = recorder{}
)

func (recorder) RecordConnectionCreateTime(ctx context.Context, d time.Duration, cn redis.ConnInfo) {
	for c := trackedFrom(cn); c != nil; c = c.next() {
		c.ready.Store(true)
		if !c.pool.closed.Load() {
			c.pool.sets.createTime.record(ctx, d, c.shard)
		}
	}
}

// RecordConnectionWaitTime is called by go-redis for every successful
// acquisition, with the time spent waiting for a turn in the pool.
func (recorder) RecordConnectionWaitTime(ctx context.Context, d time.Duration, cn redis.ConnInfo) {
	for c := trackedFrom(cn); c != nil; c = c.next() {
		if !c.pool.closed.Load() {
			c.pool.sets.waitTime.record(ctx, d, c.shard)
		}
	}
}

// RecordConnectionCount is go-redis's signal of a connection being given
// back or removed (-1 "used"), where use_time ends: a ProcessHook would
// measure a command, not how long a connection is held (Conn(), pipelines
// and transactions hold one across several commands). It starts at the
// caller's successful pending -1 (RecordPendingRequests), not at "used" +1:
// go-redis also moves to "used" connections no caller gets (a stale idle
// connection it closes). The counts themselves come from PoolStats at
// observation time.
func (recorder) RecordConnectionCount(ctx context.Context, delta int, cn redis.ConnInfo, state string, isPubSub bool) {
	if delta > 0 || isPubSub || state != "used" {
		return
	}
	var now int64
	for c := trackedFrom(cn); c != nil; c = c.next() {
		since := c.borrowedAt.Swap(0)
		if since == 0 || c.pool.closed.Load() {
			continue
		}
		if now == 0 {
			now = nanotime()
		}
		c.pool.sets.useTime.record(ctx, time.Duration(now-since), c.shard)
		c.pool.demand.leave()
	}
}

func (recorder) RecordConnectionClosed(ctx context.Context, cn redis.ConnInfo, reason string, err error) {
	for c := trackedFrom(cn); c != nil; c = c.next() {
		c.recordClose(ctx, classify(reason, err, cn, c))
	}
}

// connTimes is implemented by go-redis's pool connection.
type connTimes interface {
	ExpiresAt() time.Time
	UsedAtNs() int64
}

// classify turns go-redis's close reason (a constant, or the raw text of
// the error that removed the connection) into a closeReason.
func classify(reason string, err error, cn redis.ConnInfo, c *trackedConn) closeReason {
	switch reason {
	case "stale":
		return staleReason(cn, c)
	case "pool_shutdown":
		return reasonPoolClosed
	case "failover":
		return reasonFailover
	case "hook_error", "auth_error":
		return reasonError
	case "conn_pool_close", // closed on return: idle pool full, or marked by a hook
		"connection evicted: idle pool at capacity",
		"connection not pooled", // dialled beyond PoolSize, dropped on return
		"hook requested removal",
		"maintnotifications_disabled",
		"unknown", "test":
		return reasonOther
	}
	if err != nil {
		return reasonError
	}
	return reasonOther
}

// staleReason refines go-redis's "stale", which covers three checks made
// when an idle connection is taken from the pool, in this order: past its
// lifetime (ConnMaxLifetime with jitter), idle too long (ConnMaxIdleTime),
// and a failed liveness peek. The connection's own expiry and last-use
// times tell which one failed.
func staleReason(cn redis.ConnInfo, c *trackedConn) closeReason {
	t, ok := cn.(connTimes)
	if !ok {
		return reasonStale
	}
	now := time.Now()
	if exp := t.ExpiresAt(); !exp.IsZero() && !now.Before(exp) {
		return reasonMaxLifetime
	}
	if c.idleLimit > 0 && now.UnixNano()-t.UsedAtNs() >= int64(c.idleLimit) {
		return reasonIdleTimeout
	}
	return reasonStale
}

// RegisterPool sees every client go-redis creates; poolscope only uses it to
// tell whether its recorder is still the installed one (see probe).
func (recorder) RegisterPool(poolName string, _ redis.Pooler) {
	if strings.HasPrefix(poolName, probeAddr) {
		probeSeen.Store(true)
	}
}

func (recorder) UnregisterPool(redis.Pooler)                   {}
func (recorder) RegisterPubSubPool(string, redis.PubSubPooler) {}
func (recorder) UnregisterPubSubPool(redis.PubSubPooler)       {}

// RecordOperationDuration is called by go-redis after every command, with
// its duration, retries included (db.client.operation.duration).
func (recorder) RecordOperationDuration(ctx context.Context, d time.Duration, cmd redis.Cmder, _ int, err error, cn redis.ConnInfo, _ int) {
	recordOperation(ctx, d, cmd, "", err, cn)
}

// RecordPipelineOperationDuration is called by go-redis after every
// pipeline ("PIPELINE") and transaction ("MULTI").
func (recorder) RecordPipelineOperationDuration(ctx context.Context, d time.Duration, name string, _, _ int, err error, cn redis.ConnInfo, _ int) {
	recordOperation(ctx, d, nil, name, err, cn)
}

// RecordPendingRequests is called by go-redis when a caller starts asking
// its pool for a connection (+1, with the pool's name and no connection),
// and when it stops: -1 with the connection it got, or without one when it
// gave up. It keeps each pool's demand (see demand). Until the pool's name
// is learnt, its callers are counted under the name (see unnamedCallers).
func (recorder) RecordPendingRequests(ctx context.Context, delta int, cn redis.ConnInfo, poolName string) {
	if delta > 0 {
		e := byName(poolName)
		if e == nil || e.waiting != nil {
			arriveUnnamed(ctx, poolName, e)
			return
		}
		arrive(ctx, e.pools)
		return
	}
	c := trackedFrom(cn)
	if c == nil { // gave up, or got a connection poolscope did not dial
		e := byName(poolName)
		if e == nil || e.waiting != nil {
			leaveUnnamed(poolName, e)
			return
		}
		leave(e.pools)
		return
	}
	if !c.named.Load() {
		learnNames(ctx, poolName, c)
	}
	var now int64
	for ; c != nil; c = c.next() {
		if c.pool.closed.Load() {
			continue
		}
		if now == 0 {
			now = nanotime()
		}
		c.borrowedAt.Store(now)
	}
}

// arrive counts a caller in each of pools and records what it found.
func arrive(ctx context.Context, pools []*observedPool) {
	for _, p := range pools {
		if !p.closed.Load() {
			// The count itself spreads the callers over the
			// histogram's shards: the caller has no connection yet.
			n := p.demand.arrive()
			p.sets.demand.recordValue(ctx, max(n, 1), uint32(n))
		}
	}
}

// leave counts a caller that gave up in each of pools.
func leave(pools []*observedPool) {
	for _, p := range pools {
		if !p.closed.Load() {
			p.demand.leave()
		}
	}
}

// The recorder events poolscope does not use.
func (recorder) RecordConnectionRelaxedTimeout(context.Context, int, redis.ConnInfo, string, string) {
}
func (recorder) RecordConnectionHandoff(context.Context, redis.ConnInfo, string)           {}
func (recorder) RecordError(context.Context, string, redis.ConnInfo, string, bool, int)    {}
func (recorder) RecordMaintenanceNotification(context.Context, redis.ConnInfo, string)     {}
func (recorder) RecordPubSubMessage(context.Context, redis.ConnInfo, string, string, bool) {}
func (recorder) RecordStreamLag(context.Context, time.Duration, redis.ConnInfo, string, string, string) {
}

// installed is the process-wide registry of Instrumentations that need the
// recorder: go-redis has one recorder slot per process, so this is the one
// piece of global state poolscope keeps, wrapped here.
var installed struct {
	mu       sync.Mutex
	refs     int
	reported bool // ErrRecorderReplaced was handed to otel.Handle
}

// acquireRecorder installs the recorder for one more Instrumentation. The
// first one installs it; a later one installs it again if another library
// replaced it in between (the last caller wins, as in go-redis).
func acquireRecorder() {
	installed.mu.Lock()
	defer installed.mu.Unlock()
	installed.refs++
	if installed.refs == 1 || !probe() {
		forgetUnnamed()
		redis.SetOTelRecorder(recorder{})
	}
	installed.reported = false
}

// releaseRecorder gives the recorder up for one Instrumentation. The last
// one detaches it, unless another library's recorder replaced it, which is
// left alone. go-redis has no getter, so a recorder installed before
// poolscope's cannot be put back.
func releaseRecorder() {
	installed.mu.Lock()
	defer installed.mu.Unlock()
	installed.refs--
	if installed.refs == 0 && probe() {
		redis.SetOTelRecorder(nil)
		forgetUnnamed()
	}
}

// recorderCheckInterval spaces the checks for a replaced recorder that
// collections make.
var recorderCheckInterval = 10 * time.Second

var lastRecorderCheck atomic.Int64

func init() { lastRecorderCheck.Store(-int64(recorderCheckInterval)) }

// checkRecorder reports ErrRecorderReplaced, once per replacement, when
// go-redis no longer calls poolscope's recorder. It runs from the metric
// callback, at most once per recorderCheckInterval.
func checkRecorder() {
	now, last := nanotime(), lastRecorderCheck.Load()
	if now-last < int64(recorderCheckInterval) || !lastRecorderCheck.CompareAndSwap(last, now) {
		return
	}
	installed.mu.Lock()
	report := installed.refs > 0 && !installed.reported && !probe()
	if report {
		installed.reported = true
	}
	installed.mu.Unlock()
	if report {
		otel.Handle(ErrRecorderReplaced)
	}
}

// probeAddr is the address of the probe client; it is never dialled.
const probeAddr = "poolscope-recorder-probe.invalid:1"

var probeSeen atomic.Bool

// probe reports whether poolscope's recorder is the one go-redis calls.
// go-redis has no getter, but it registers every new client's pool with the
// installed recorder: probe creates a client that never connects (no
// minimum idle connections, no pipeline pool, RESP2 so that no push or
// maintenance machinery starts), and watches for that registration. Its
// maintenance notifications are off: otherwise go-redis resolves the
// address as the client is created, to tell an internal endpoint from an
// external one, and where DNS is slow or unreachable that blocks the probe,
// and the metric callback that runs it, for up to 2 seconds each time
// (TestProbeResolvesNothing). It costs a few microseconds and is done only
// at New, Close and at most once per recorderCheckInterval. The caller
// holds installed.mu.
func probe() bool {
	probeSeen.Store(false)
	c := redis.NewClient(&redis.Options{
		Addr:                     probeAddr,
		Protocol:                 2,
		PoolSize:                 1,
		PipelinePoolSize:         -1,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	_ = c.Close()
	return probeSeen.Load()
}
