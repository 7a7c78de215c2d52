package pools_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

const timeoutTestWait = 200 * time.Millisecond

// poolTimeout checks that err is a diagnosed pool timeout of the master
// pool of one connection, with the cause and the words given.
func poolTimeout(t *testing.T, err error, cause pools.TimeoutCause, words ...string) *pools.PoolTimeoutError {
	t.Helper()
	if !errors.Is(err, redis.ErrPoolTimeout) {
		t.Fatalf("err = %v, want one that wraps redis.ErrPoolTimeout", err)
	}
	var pe *pools.PoolTimeoutError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want a *pools.PoolTimeoutError", err, err)
	}
	if pe.Role != pools.Master || pe.InUse != 1 || pe.Max != 1 || pe.Cause != cause || pe.Longest < timeoutTestWait {
		t.Errorf("diagnosis = %+v, want master, 1/1 in use, cause %q, longest >= %s", pe, cause, timeoutTestWait)
	}
	for _, w := range append([]string{"pools: master pool", "1/1 connections in use", cause.String()}, words...) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	t.Log(err)
	return pe
}

// TestPoolTimeoutNamesAConnHeldOutsideCommands holds the only connection
// of the master pool through Conn(): the next caller's pool timeout says
// so, and how long the connection has been out.
func TestPoolTimeoutNamesAConnHeldOutsideCommands(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, 30*time.Second)
	p := open(t, srv.URL(), map[string]string{"REDIS_MASTER_POOL_SIZE": "1", "REDIS_POOL_TIMEOUT": timeoutTestWait.String()})

	held := p.Master().Conn()
	defer held.Close()
	if err := held.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	err := p.Master().Get(ctx, "k").Err()
	poolTimeout(t, err, pools.CauseHeldOutsideCommands, "running no command")

	// A pipeline's callers get the diagnosis too.
	_, err = p.Master().Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Get(ctx, "a")
		pipe.Get(ctx, "b")
		return nil
	})
	poolTimeout(t, err, pools.CauseHeldOutsideCommands)
}

// TestPoolTimeoutNamesAPausedServer pauses the server's writes (CLIENT
// PAUSE WRITE, so that the CLIENT UNPAUSE at the end goes through) under a
// SET that holds the only connection: the next caller's pool timeout
// blames the server.
func TestPoolTimeoutNamesAPausedServer(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, 30*time.Second)
	p := open(t, srv.URL(), map[string]string{"REDIS_MASTER_POOL_SIZE": "1", "REDIS_POOL_TIMEOUT": timeoutTestWait.String()})
	master := p.Master()
	if err := master.Ping(ctx).Err(); err != nil { // dialled before the pause
		t.Fatal(err)
	}
	admin := srv.Admin()
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "PAUSE", 20_000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() {
		if err := admin.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
			t.Error(err)
		}
	}()
	// Answered at UNPAUSE (or, on a very slow machine, failed by its read
	// timeout: either way it held the connection meanwhile).
	wg.Go(func() { _ = master.Set(ctx, "k", "v", 0).Err() })
	redistest.Eventually(t, 10*time.Second, func() error {
		if st := master.PoolStats(); st.TotalConns-st.IdleConns != 1 {
			return errors.New("the paused command has not taken the connection yet")
		}
		return nil
	})
	err := master.Get(ctx, "k").Err()
	poolTimeout(t, err, pools.CauseSlowServer, "waiting for a reply")
}
