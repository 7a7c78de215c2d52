package pools_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(envDialChild); kind != "" {
		os.Exit(runDialChild(kind)) // a child of TestDialFailuresStayBounded
	}
	// go-redis logs every failed dial; the tests that stop servers on
	// purpose would drown the output.
	redislog.Route(slog.New(slog.NewTextHandler(io.Discard, nil)))
	code := m.Run()
	if code == 0 {
		// go-redis's dial probes outlive a closed client by up to a
		// second (see dialProbes); anything else left is a leak.
		for deadline := time.Now().Add(5 * time.Second); dialProbes() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // polling with a deadline
		}
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// dialProbes counts go-redis's dial probes. After PoolSize failed dials in
// a row a go-redis pool starts a goroutine that redials once a second until
// it succeeds or sees the pool closed, so it outlives Close by up to a
// second.
func dialProbes() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "(*ConnPool).tryDial(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

var quiet = pools.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// open builds pools from a variable map pointed at the given URL.
func open(t *testing.T, url string, vars map[string]string) *pools.Pools {
	t.Helper()
	m := map[string]string{
		"OTEL_SERVICE_NAME": "pools-test",
		"REDIS_MASTER_URL":  url,
		"REDIS_LOCAL_URL":   url,
	}
	for k, v := range vars {
		m[k] = v
	}
	cfg, err := pools.LoadConfig(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	p, err := pools.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func countFor(t *testing.T, s *redisserver.Server, name string) int {
	t.Helper()
	counts, err := s.ClientsByName(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return counts[name]
}

func TestSharedPoolsAreTheDefaults(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), nil)
	want := map[pools.Role][2]int{pools.Master: {0, 10}, pools.Replica: {0, 20}, pools.Local: {0, 5}, pools.Async: {5, 20}}
	for role, mm := range want {
		c := p.Client(role)
		o := c.Options()
		if !p.Shared(role) || o.PoolSize != mm[1] || o.MaxActiveConns != mm[1] || o.MinIdleConns != mm[0] {
			t.Errorf("%s: shared=%v PoolSize=%d MaxActiveConns=%d MinIdleConns=%d, want %v", role, p.Shared(role), o.PoolSize, o.MaxActiveConns, o.MinIdleConns, mm)
		}
		if o.ClientName != fmt.Sprintf("pools-test:%s:%d", role, os.Getpid()) {
			t.Errorf("%s: ClientName = %q", role, o.ClientName)
		}
		if o.PoolTimeout != 4*time.Second || o.ConnMaxIdleTime != 5*time.Minute || o.ConnMaxLifetime != 30*time.Minute {
			t.Errorf("%s: timeouts %v %v %v", role, o.PoolTimeout, o.ConnMaxIdleTime, o.ConnMaxLifetime)
		}
	}
}

// TestAsyncMinIdleAtStart: the async pool's MIN connections are dialled at
// start and show in CLIENT LIST without any command being sent.
// TestAsyncMinIdleAtStart: the async pool's MIN connections are on the
// server right after start, each already carrying the pool's client name
// (go-redis alone names a connection only at its first use), and there are
// exactly MIN of them: nothing has to borrow them to name them. With a
// password, an ACL user and TLS, the naming authenticates first.
func TestAsyncMinIdleAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts redisserver.Options
		url  func(*redisserver.Server) string
		vars func(*redisserver.Server) map[string]string
	}{
		{name: "plain"},
		{name: "password", opts: redisserver.Options{Password: "s3cret"}},
		{name: "acl-user", opts: redisserver.Options{Users: []redisserver.User{{Name: "app", Password: "apppw", Rules: "~* &* +@all"}}},
			url: func(s *redisserver.Server) string { return s.URLFor("app", "apppw") }},
		{name: "tls", opts: redisserver.Options{TLS: true},
			vars: func(s *redisserver.Server) map[string]string {
				return map[string]string{"REDIS_TLS_CA_FILE": s.TLS.CAFile}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := redistest.Start(t, tc.opts)
			url := s.URL()
			if tc.url != nil {
				url = tc.url(s)
			}
			vars := map[string]string{"REDIS_ASYNC_POOL_MIN": "3", "REDIS_ASYNC_POOL_MAX": "8"}
			if tc.vars != nil {
				for k, v := range tc.vars(s) {
					vars[k] = v
				}
			}
			p := open(t, url, vars)
			name := p.ClientName(pools.Async)
			redistest.Eventually(t, 10*time.Second, func() error {
				counts, err := s.ClientsByName(context.Background())
				if err != nil {
					return err
				}
				if counts[name] != 3 || counts[""] != 0 {
					return fmt.Errorf("server sees %d connections named %s and %d unnamed, want 3 and 0: %v", counts[name], name, counts[""], counts)
				}
				if n := p.Async().PoolStats().TotalConns; n != 3 {
					return fmt.Errorf("the async pool holds %d connections, want its MIN, 3", n)
				}
				return nil
			})
		})
	}
}

// TestHardCap: 200 goroutines hammer a master pool of size 10; CLIENT LIST,
// sampled during the load, never shows more than 10 of its connections.
func TestHardCap(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), map[string]string{"REDIS_POOL_TIMEOUT": "30s"})
	master := p.Master()
	name := p.ClientName(pools.Master)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ops, failures atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for ctx.Err() == nil {
				// BLPOP with a timeout holds a connection for a while, so
				// that all 200 callers really compete for the 10 slots.
				// (go-redis's BLPop rounds timeouts up to 1s; Redis takes 0.01.)
				err := master.Do(ctx, "BLPOP", fmt.Sprintf("nokey-%d", i), "0.01").Err()
				if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil {
					failures.Add(1)
				}
				ops.Add(1)
			}
		}(i)
	}
	maxSeen, samples := 0, 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) || samples < 10 {
		n := countFor(t, s, name)
		maxSeen = max(maxSeen, n)
		samples++
	}
	cancel()
	wg.Wait()
	if maxSeen > 10 {
		t.Fatalf("server saw %d connections named %s, cap is 10", maxSeen, name)
	}
	if maxSeen < 10 {
		t.Errorf("server saw at most %d connections under a 200-caller load; the pool should fill to 10", maxSeen)
	}
	if failures.Load() > 0 {
		t.Errorf("%d commands failed", failures.Load())
	}
	if st := master.PoolStats(); st.TotalConns > 10 {
		t.Errorf("PoolStats.TotalConns = %d > 10", st.TotalConns)
	}
	t.Logf("%d CLIENT LIST samples, max %d connections, %d commands", samples, maxSeen, ops.Load())
}

// TestSharing: 100 callers in one process get one pool.
func TestSharing(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), nil)
	clients := make([]*redis.Client, 100)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			clients[i] = p.Master()
			_ = clients[i].Set(context.Background(), fmt.Sprint("k", i), i, 0).Err()
		}(i)
	}
	wg.Wait()
	for i, c := range clients {
		if c != clients[0] {
			t.Fatalf("caller %d got a different client", i)
		}
	}
	if got := len(p.Clients(pools.Master)); got != 1 {
		t.Fatalf("Clients(master) = %d, want 1", got)
	}
	if n := countFor(t, s, p.ClientName(pools.Master)); n > 10 {
		t.Fatalf("%d connections for 100 callers, want <= 10", n)
	}
}

// TestDisabledGrowsWithClients: with the flag off, the first
// DefaultLegacyClients calls each get their own go-redis-default client, so
// the server's count grows with them (up to that many; see
// TestDisabledRoleStaysBounded).
func TestDisabledGrowsWithClients(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), map[string]string{"REDIS_MASTER_POOL_ENABLED": "0"})
	if p.Shared(pools.Master) {
		t.Fatal("master pool shared while disabled")
	}
	name := p.ClientName(pools.Master)
	var kept []*redis.Client
	for n := 1; n <= 5; n++ {
		c := p.Master()
		kept = append(kept, c)
		if c.Options().MaxActiveConns != 0 || c.Options().PoolSize != 10*runtime.GOMAXPROCS(0) {
			t.Fatalf("disabled client options: PoolSize %d MaxActiveConns %d, want go-redis defaults", c.Options().PoolSize, c.Options().MaxActiveConns)
		}
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		if got := countFor(t, s, name); got != n {
			t.Fatalf("after %d clients the server sees %d connections", n, got)
		}
	}
	if got := len(p.Clients(pools.Master)); got != 5 {
		t.Errorf("Clients(master) = %d, want 5", got)
	}
	if kept[0] == kept[1] {
		t.Error("two requests returned the same client")
	}
	var seen []pools.Role
	remove := p.OnNewClient(func(r pools.Role, _ *redis.Client) { seen = append(seen, r) })
	_ = p.Master()
	remove()
	_ = p.Master()
	if len(seen) != 1 || seen[0] != pools.Master {
		t.Errorf("OnNewClient saw %v, want one master", seen)
	}
}

// TestReplicaReadsLandOnReplica: the replica pool's connections are on the
// replica server, the master pool's on the master.
func TestReplicaReadsLandOnReplica(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	replica := redistest.Start(t, redisserver.Options{ReplicaOf: master})
	p := open(t, master.URL(), map[string]string{"REDIS_SLAVE_URL": replica.URL()})
	ctx := redistest.Context(t, 30*time.Second)
	if err := p.Master().Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 10*time.Second, func() error {
		v, err := p.Replica().Get(ctx, "greeting").Result()
		if v != "hello" {
			return fmt.Errorf("replica read %q, %v", v, err)
		}
		return nil
	})
	if n := countFor(t, replica, p.ClientName(pools.Replica)); n < 1 {
		t.Errorf("replica server has %d replica-pool connections", n)
	}
	if n := countFor(t, master, p.ClientName(pools.Replica)); n != 0 {
		t.Errorf("master server has %d replica-pool connections, want 0", n)
	}
	// A replica refuses writes: proof that reads really went there.
	if err := p.Replica().Set(ctx, "x", 1, 0).Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("write through the replica pool: %v, want READONLY", err)
	}
}

func TestSentinelPools(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	replica := redistest.Start(t, redisserver.Options{ReplicaOf: master})
	sentinel := redistest.StartSentinel(t, master, "poolscope-test")
	ctx := redistest.Context(t, 60*time.Second)
	if err := sentinel.WaitReplicas(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p := open(t, master.URL(), map[string]string{
		"REDIS_MASTER_URL":      "redis://127.0.0.1:1/0", // host ignored with Sentinel
		"REDIS_SENTINEL_ADDRS":  sentinel.Addr(),
		"REDIS_SENTINEL_MASTER": "poolscope-test",
	})
	if err := p.Master().Set(ctx, "via", "sentinel", 0).Err(); err != nil {
		t.Fatalf("write through Sentinel: %v", err)
	}
	redistest.Eventually(t, 10*time.Second, func() error {
		v, err := p.Replica().Get(ctx, "via").Result()
		if v != "sentinel" {
			return fmt.Errorf("replica read via Sentinel: %q, %v", v, err)
		}
		return nil
	})
	if n := countFor(t, master, p.ClientName(pools.Master)); n < 1 {
		t.Errorf("master has %d master-pool connections", n)
	}
	if n := countFor(t, replica, p.ClientName(pools.Replica)); n < 1 {
		t.Errorf("replica has %d replica-pool connections", n)
	}
	if o := p.Master().Options(); o.PoolSize != 10 || o.MaxActiveConns != 10 {
		t.Errorf("Sentinel master pool: PoolSize %d MaxActiveConns %d, want 10", o.PoolSize, o.MaxActiveConns)
	}
}

func TestTLS(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{TLS: true})
	ctx := redistest.Context(t, 30*time.Second)

	t.Run("right CA", func(t *testing.T) {
		p := open(t, s.URL(), map[string]string{"REDIS_TLS_CA_FILE": s.TLS.CAFile})
		if err := p.Master().Ping(ctx).Err(); err != nil {
			t.Fatalf("PING over TLS: %v", err)
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		p := open(t, s.URL(), map[string]string{
			"REDIS_TLS_CA_FILE": s.TLS.CAFile, "REDIS_TLS_CERT_FILE": s.TLS.ClientCertFile, "REDIS_TLS_KEY_FILE": s.TLS.ClientKeyFile,
		})
		if err := p.Local().Ping(ctx).Err(); err != nil {
			t.Fatalf("PING with a client certificate: %v", err)
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		p := open(t, s.URL(), map[string]string{"REDIS_TLS_CA_FILE": s.TLS.OtherCAFile, "REDIS_MASTER_POOL_SIZE": "1"})
		err := p.Master().Ping(ctx).Err()
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("PING with the wrong CA: %v, want a certificate verification error", err)
		}
	})
	t.Run("insecure skip verify warns", func(t *testing.T) {
		logs := &redistest.Buffer{}
		cfg, err := pools.LoadConfig(func(k string) (string, bool) {
			v, ok := map[string]string{"REDIS_MASTER_URL": s.URL(), "REDIS_TLS_INSECURE_SKIP_VERIFY": "1"}[k]
			return v, ok
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := pools.New(cfg, pools.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Master().Ping(ctx).Err(); err != nil {
			t.Fatalf("PING with verification off: %v", err)
		}
		if !strings.Contains(logs.String(), "NOT verified") {
			t.Errorf("no warning logged: %q", logs.String())
		}
	})
}

func TestUnixSocket(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{UnixSocket: true})
	p := open(t, s.URL(), map[string]string{"REDIS_LOCAL_URL": "unix://" + s.Socket})
	if err := p.Local().Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING over the unix socket: %v", err)
	}
	if n := countFor(t, s, p.ClientName(pools.Local)); n != 1 {
		t.Errorf("server sees %d local-pool connections, want 1", n)
	}
}

func TestPassword(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{Password: "CANARY-pw"})
	p := open(t, s.URL(), nil)
	if err := p.Master().Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING with the URL's password: %v", err)
	}
}

// TestHealthNoticesStopAndRecovery: a stopped server is reported within two
// intervals and its return after a restart.
func TestHealthNoticesStopAndRecovery(t *testing.T) {
	const interval = 200 * time.Millisecond
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), map[string]string{"REDIS_HEALTH_CHECK_INTERVAL": interval.String()})
	var mu sync.Mutex
	var checks []pools.HealthCheck
	remove := p.OnHealthCheck(func(c pools.HealthCheck) {
		mu.Lock()
		checks = append(checks, c)
		mu.Unlock()
	})
	defer remove()

	redistest.Eventually(t, 5*time.Second, func() error {
		if h := p.Health(pools.Master); !h.Checked || !h.Healthy {
			return fmt.Errorf("master health %+v", h)
		}
		return nil
	})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// Two intervals plus one check's timeout, with slack for a loaded machine.
	redistest.Eventually(t, 2*interval+time.Second+2*time.Second, func() error {
		for _, r := range pools.Roles {
			if h := p.Health(r); h.Healthy || h.ConsecutiveFailures == 0 {
				return fmt.Errorf("%s health %+v", r, h)
			}
		}
		return nil
	})
	t.Logf("all pools unhealthy %v after the stop", time.Since(stopped).Round(time.Millisecond))
	if h := p.Health(pools.Master); h.Last.Err == nil || h.Last.Outcome == pools.HealthOK {
		t.Errorf("failed check has no error: %+v", h)
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 10*time.Second, func() error {
		for _, r := range pools.Roles {
			if h := p.Health(r); !h.Healthy || h.ConsecutiveFailures != 0 {
				return fmt.Errorf("%s health %+v", r, h)
			}
		}
		return nil
	})
	// Polled: a loop records a check in Health before it calls the
	// observers (outside its lock), so the last checks' calls may still be
	// on their way.
	redistest.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		var ok, failed int
		for _, c := range checks {
			if c.Outcome == pools.HealthOK {
				ok++
			} else {
				failed++
			}
		}
		if ok == 0 || failed == 0 {
			return fmt.Errorf("observer saw %d ok and %d failed checks", ok, failed)
		}
		return nil
	})
}

// TestCloseIsIdempotentAndLeavesNothing: Close stops every loop and closes
// every client; a second Close is harmless. TestMain's goleak check fails
// the package if any goroutine is left behind.
func TestCloseIsIdempotentAndLeavesNothing(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	cfg, err := pools.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{"REDIS_MASTER_URL": s.URL(), "REDIS_LOCAL_URL": s.URL(), "REDIS_SLAVE_POOL_ENABLED": "0", "REDIS_HEALTH_CHECK_INTERVAL": "50ms"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pools.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range pools.Roles {
		if err := p.Client(r).Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Master().Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("PING after Close: %v, want redis.ErrClosed", err)
	}
	if err := p.Replica().Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("disabled-role client after Close: %v, want redis.ErrClosed", err)
	}
	redistest.Eventually(t, 5*time.Second, func() error {
		counts, err := s.ClientsByName(ctx)
		if err != nil {
			return err
		}
		for name, n := range counts {
			if strings.HasPrefix(name, "pools-test:") {
				return fmt.Errorf("%d connections named %s left after Close", n, name)
			}
		}
		return nil
	})
}

func TestNewRejectsBadHandBuiltConfig(t *testing.T) {
	cfg := pools.DefaultConfig()
	cfg.Master.Max = 0
	cfg.Async.MinIdle = 50
	cfg.Local.URL = "http://nope"
	_, err := pools.New(cfg, quiet)
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"master pool: min 0, max 0", "async pool: min 50, max 20", `local pool: URL "http://nope"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestStartHealthRace pins a data race: startHealth wrote its status map
// unlocked after the first role's health loop had started, and that loop
// writes the map when its first PING returns. A refused dial returns in
// microseconds, so opening pools at a closed port many times under -race
// catches the old code.
func TestStartHealthRace(t *testing.T) {
	url := closedURL(t)
	for i := 0; i < 50; i++ {
		p := open(t, url, map[string]string{"REDIS_ASYNC_POOL_MIN": "0"})
		for _, r := range pools.Roles {
			_ = p.Health(r)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHardCapWithPipelines: go-redis keeps a separate pipeline pool (10
// connections by default) outside MaxActiveConns. 200 goroutines sending
// pipelines and plain commands at once: the pools' master pool stays within
// its cap of 10 on the server, while a go-redis client with the same
// PoolSize and MaxActiveConns and the default pipeline pool goes beyond it
// (the control that shows the test can see the problem).
func TestHardCapWithPipelines(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), map[string]string{"REDIS_POOL_TIMEOUT": "30s"})
	control := redis.NewClient(&redis.Options{Addr: s.Addr(), ClientName: "pipeline-control", PoolSize: 10, MaxActiveConns: 10, PoolTimeout: 30 * time.Second})
	t.Cleanup(func() { _ = control.Close() })

	for _, tc := range []struct {
		name   string
		client *redis.Client
		over   bool // the control is expected to go over the cap
	}{
		{p.ClientName(pools.Master), p.Master(), false},
		{"pipeline-control", control, true},
	} {
		maxSeen, failures := loadAndSample(t, s, tc.name, 200, func(ctx context.Context, i int) error {
			key := fmt.Sprintf("nokey-%d", i)
			if i%2 == 0 {
				return tc.client.Do(ctx, "BLPOP", key, "0.01").Err()
			}
			_, err := tc.client.Pipelined(ctx, func(pl redis.Pipeliner) error {
				pl.Do(ctx, "BLPOP", key, "0.01")
				pl.Incr(ctx, "counter")
				return nil
			})
			return err
		})
		t.Logf("%s: at most %d connections on the server (cap 10), %d failed commands", tc.name, maxSeen, failures)
		if failures > 0 {
			t.Errorf("%s: %d commands failed", tc.name, failures)
		}
		switch {
		case !tc.over && maxSeen > 10:
			t.Errorf("%s: server saw %d connections, cap is 10", tc.name, maxSeen)
		case tc.over && maxSeen <= 10:
			t.Errorf("control %s stayed at %d connections: the test no longer exercises go-redis's pipeline pool", tc.name, maxSeen)
		}
	}
}

// loadAndSample runs callers goroutines calling op in a loop for about 3 s
// and samples CLIENT LIST meanwhile; it returns the most connections named
// name seen at once and the number of failed calls (redis.Nil is no
// failure).
func loadAndSample(t *testing.T, s *redisserver.Server, name string, callers int, op func(ctx context.Context, i int) error) (maxSeen int, failures int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := op(ctx, i); err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil {
					failed.Add(1)
				}
			}
		}(i)
	}
	samples := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) || samples < 10; samples++ {
		maxSeen = max(maxSeen, countFor(t, s, name))
	}
	cancel()
	wg.Wait()
	return maxSeen, failed.Load()
}

// TestCloseClientLeavesClients: a disabled role's client given back with
// CloseClient leaves Clients at once; the shared client is not closed by it.
func TestCloseClientLeavesClients(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	p := open(t, s.URL(), map[string]string{"REDIS_MASTER_POOL_ENABLED": "0"})
	ctx := context.Background()
	a, b := p.Master(), p.Master()
	for _, c := range []*redis.Client{a, b} {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(p.Clients(pools.Master)); got != 2 {
		t.Fatalf("Clients(master) = %d before CloseClient, want 2", got)
	}
	if err := p.CloseClient(a); err != nil {
		t.Fatal(err)
	}
	if got := p.Clients(pools.Master); len(got) != 1 || got[0] != b {
		t.Errorf("Clients(master) after CloseClient = %v, want only the open client", got)
	}
	if err := a.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("PING on a client given back: %v, want redis.ErrClosed", err)
	}
	if err := p.CloseClient(a); err != nil {
		t.Errorf("second CloseClient: %v", err)
	}
	redistest.Eventually(t, 5*time.Second, func() error {
		if n := countFor(t, s, p.ClientName(pools.Master)); n != 1 {
			return fmt.Errorf("server sees %d master connections, want 1", n)
		}
		return nil
	})
	_ = p.CloseClient(b)

	shared := p.Local()
	if err := p.CloseClient(shared); err != nil {
		t.Fatal(err)
	}
	if err := shared.Ping(ctx).Err(); err != nil {
		t.Errorf("shared client after CloseClient: %v, want it open", err)
	}
}
