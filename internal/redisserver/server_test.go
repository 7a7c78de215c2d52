package redisserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

func TestStandaloneRestartAndCount(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{Password: "s3cret", UnixSocket: true})
	ctx := redistest.Context(t, 30*time.Second)

	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: "s3cret", ClientName: "app:master:1"})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	counts, err := s.ClientsByName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["app:master:1"] != 1 {
		t.Fatalf("ClientsByName = %v, want app:master:1=1", counts)
	}

	unix := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket, Password: "s3cret"})
	defer unix.Close()
	if err := unix.Ping(ctx).Err(); err != nil {
		t.Fatalf("unix socket: %v", err)
	}

	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("Running after Kill")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 5*time.Second, func() error { return c.Ping(ctx).Err() })
}

func TestTLSAndACL(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{
		TLS:   true,
		Users: []redisserver.User{{Name: "agent", Password: "pw", Rules: "-@all +ping +info"}},
	})
	ctx := redistest.Context(t, 30*time.Second)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "agent", Password: "pw", TLSConfig: s.ClientTLSConfig()})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping over TLS as agent: %v", err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("SET as restricted user: err = %v, want NOPERM", err)
	}
	if !strings.HasPrefix(s.URL(), "rediss://") {
		t.Fatalf("URL = %q, want rediss://", s.URL())
	}
}

func TestReplicaAndSentinel(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	replica := redistest.Start(t, redisserver.Options{ReplicaOf: master})
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	ctx := redistest.Context(t, 60*time.Second)

	mc := master.Client()
	defer mc.Close()
	if err := mc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rc := replica.Client()
	defer rc.Close()
	redistest.Eventually(t, 10*time.Second, func() error {
		v, err := rc.Get(ctx, "k").Result()
		if err != nil || v != "v" {
			return fmt.Errorf("replica GET k = %q, %v", v, err)
		}
		return nil
	})
	if err := sentinel.WaitReplicas(ctx, 1); err != nil {
		t.Fatal(err)
	}
	addr, err := sentinel.MasterAddr(ctx)
	if err != nil || addr != master.Addr() {
		t.Fatalf("MasterAddr = %q, %v; want %q", addr, err, master.Addr())
	}
}

// A paused server answers nothing (a new client's GET times out) until
// the pause ends. The pause is long enough that a loaded machine still
// sends the GET inside it; GET of a missing key answers redis.Nil, so only
// a timeout shows the pause.
func TestPause(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, 30*time.Second)
	if err := s.Pause(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), ReadTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	var timeout interface{ Timeout() bool }
	if err := c.Get(context.Background(), "x").Err(); !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("GET during CLIENT PAUSE: %v, want a timeout", err)
	}
	redistest.Eventually(t, 5*time.Second, func() error {
		if err := c.Get(ctx, "x").Err(); err != redis.Nil {
			return fmt.Errorf("GET after the pause: %v", err)
		}
		return nil
	})
}
