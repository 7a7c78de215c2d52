package pools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// TimeoutCause is the likely reason of a pool timeout (PoolTimeoutError).
type TimeoutCause int

const (
	// CausePoolTooSmall: connections were coming back during the wait,
	// but more callers wanted one than the pool holds.
	CausePoolTooSmall TimeoutCause = iota
	// CauseSlowServer: connections are held by commands whose replies have
	// not come for at least the whole wait: a slow or paused server, or
	// blocking commands (BLPOP, BRPOP, XREAD BLOCK, WAIT).
	CauseSlowServer
	// CauseHeldOutsideCommands: connections are held without any command
	// running on them for at least the whole wait: Conn() sessions,
	// transactions (Watch), pipelines being built, code that took a
	// connection and went on with other work.
	CauseHeldOutsideCommands
)

func (c TimeoutCause) String() string {
	switch c {
	case CauseSlowServer:
		return "a slow or paused server, or blocking commands (BLPOP, BRPOP, XREAD BLOCK, WAIT) holding connections"
	case CauseHeldOutsideCommands:
		return "connections held outside commands (Conn() sessions, Watch transactions, code holding a connection between commands): give them back sooner, or size the pool for them"
	}
	return "the pool is too small for the demand: see poolscope advise"
}

// PoolTimeoutError is what a caller of a shared pool's client gets in
// place of go-redis's redis.ErrPoolTimeout: the pool, its state when the
// caller gave up, and the likely cause. It wraps the original error:
// errors.Is(err, redis.ErrPoolTimeout) holds.
type PoolTimeoutError struct {
	Role Role
	// Waited is the pool timeout (REDIS_POOL_TIMEOUT) the caller waited on
	// each try: go-redis retries a pool timeout (MaxRetries, 3 by default).
	Waited time.Duration
	// InUse and Max are the connections in use and the pool's cap;
	// Waiting is how many other callers were waiting.
	InUse, Max, Waiting int
	// Longest is how long the longest-held connection has gone without
	// being given back, as far as its traffic tells: since its oldest
	// unanswered command, or, with no command running, since its last
	// command (a lower bound of how long its holder has had it).
	Longest time.Duration
	// Awaiting is how many connections wait for a reply; Silent how many
	// in use run no command.
	Awaiting, Silent int
	Cause            TimeoutCause
	Err              error
}

func (e *PoolTimeoutError) Error() string {
	longest := "its longest-held connection has been out for %s (%s)"
	what := "no command running on it since its last one"
	if e.Cause == CauseSlowServer {
		what = "waiting for a reply"
	}
	return fmt.Sprintf("pools: %s pool: no connection within %s (REDIS_POOL_TIMEOUT, each try): %d/%d connections in use (%d waiting for a reply, %d running no command), %d other callers waiting; "+longest+"; likely cause: %s: %v",
		e.Role, e.Waited, e.InUse, e.Max, e.Awaiting, e.Silent, e.Waiting, e.Longest.Round(time.Millisecond), what, e.Cause, e.Err)
}

func (e *PoolTimeoutError) Unwrap() error { return e.Err }

// timeoutHook turns a shared pool's redis.ErrPoolTimeout into a
// PoolTimeoutError. Commands that succeed or fail otherwise pass through
// with one nil check; the diagnosis runs only on a pool timeout.
type timeoutHook struct {
	role   Role
	client *redis.Client
	conns  *connSet
	max    int
	wait   time.Duration
}

var _ redis.Hook = (*timeoutHook)(nil)

func (h *timeoutHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *timeoutHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && errors.Is(err, redis.ErrPoolTimeout) {
			err = h.diagnose(err)
			cmd.SetErr(err)
		}
		return err
	}
}

func (h *timeoutHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil && errors.Is(err, redis.ErrPoolTimeout) {
			diagnosed := h.diagnose(err)
			for _, c := range cmds {
				if errors.Is(c.Err(), redis.ErrPoolTimeout) {
					c.SetErr(diagnosed)
				}
			}
			err = diagnosed
		}
		return err
	}
}

// diagnose reads the pool's state at the moment of the timeout.
func (h *timeoutHook) diagnose(err error) error {
	var already *PoolTimeoutError
	if errors.As(err, &already) {
		return err
	}
	st := h.client.PoolStats()
	e := &PoolTimeoutError{Role: h.role, Waited: h.wait, Max: h.max, Err: err,
		InUse:   max(int(st.TotalConns)-int(st.IdleConns), 0),
		Waiting: int(st.PendingRequests)}
	var oldAwaiting, oldSilent int
	var longestAwaiting, longestSilent time.Duration
	for _, a := range h.conns.activity() {
		if a.awaiting {
			e.Awaiting++
			longestAwaiting = max(longestAwaiting, a.since)
			if a.since >= h.wait {
				oldAwaiting++
			}
			continue
		}
		e.Silent++
		longestSilent = max(longestSilent, a.since)
		if a.since >= h.wait {
			oldSilent++
		}
	}
	// Idle connections run no command either; at a timeout there are
	// normally none, since a waiting caller takes any that comes back.
	e.Silent = max(min(e.Silent, e.InUse-e.Awaiting), 0)
	switch {
	case oldAwaiting > 0 && oldAwaiting >= oldSilent:
		e.Cause, e.Longest = CauseSlowServer, longestAwaiting
	case oldSilent > 0 && st.IdleConns == 0:
		e.Cause, e.Longest = CauseHeldOutsideCommands, longestSilent
	default:
		e.Cause, e.Longest = CausePoolTooSmall, max(longestAwaiting, longestSilent)
	}
	return e
}
