package pools_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// closedURL is a redis:// URL whose port refuses connections.
func closedURL(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("redis://127.0.0.1:%d/0", redistest.RefusedPort(t))
}

// TestServiceNameRule: the client names follow the rule exporters uses
// for service.name (issue 15, item 4).
func TestServiceNameRule(t *testing.T) {
	for _, tc := range []struct {
		name, def string
		env       map[string]string
		want      string
	}{
		{"OTEL_SERVICE_NAME", "userapp", map[string]string{"OTEL_SERVICE_NAME": "svc", "OTEL_RESOURCE_ATTRIBUTES": "service.name=res"}, "svc"},
		{"resource attribute", "userapp", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=res"}, "res"},
		{"program default", "userapp", nil, "userapp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"REDIS_MASTER_URL": closedURL(t), "REDIS_LOCAL_POOL_ENABLED": "0",
				"REDIS_SLAVE_POOL_ENABLED": "0", "REDIS_ASYNC_POOL_ENABLED": "0"}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := pools.LoadConfig(lookup(env))
			if err != nil {
				t.Fatal(err)
			}
			p, err := pools.New(cfg, quiet, pools.WithDefaultServiceName(tc.def))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if got := p.ClientName(pools.Master); !strings.HasPrefix(got, tc.want+":master:") {
				t.Errorf("client name %q, want service %q", got, tc.want)
			}
		})
	}
}

// TestOrigins: every role value says where it came from; the replica and
// async URLs follow REDIS_MASTER_URL, the local one stays at its default.
func TestOrigins(t *testing.T) {
	cfg, err := pools.LoadConfig(lookup(map[string]string{
		"REDIS_MASTER_URL": "redis://db:6379/0", "REDIS_REPLICA_POOL_SIZE": "7", "REDIS_ASYNC_URL": "redis://bg:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got, want pools.Origin
	}{
		{cfg.Master.Origins.URL, "REDIS_MASTER_URL"},
		{cfg.Replica.Origins.URL, "from REDIS_MASTER_URL"},
		{cfg.Async.Origins.URL, "REDIS_ASYNC_URL"},
		{cfg.Local.Origins.URL, pools.OriginDefault},
		{cfg.Replica.Origins.Max, "REDIS_REPLICA_POOL_SIZE"},
		{cfg.Master.Origins.Max, pools.OriginDefault},
		{cfg.Async.Origins.MinIdle, pools.OriginDefault},
		{cfg.Local.Origins.Enabled, pools.OriginDefault},
	} {
		if tc.got != tc.want {
			t.Errorf("origin %q, want %q", tc.got, tc.want)
		}
	}
	if !cfg.LocalFollowsDefault() {
		t.Error("LocalFollowsDefault = false with only REDIS_MASTER_URL set")
	}
}

// TestLocalDefaultUnreachableSaidOnce (issue 15, item 6): with only
// REDIS_MASTER_URL set and nothing at the local pool's default address,
// start-up says so once, naming the address and the variable to set.
func TestLocalDefaultUnreachableSaidOnce(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	cfg, err := pools.LoadConfig(lookup(map[string]string{"REDIS_MASTER_URL": s.URL(), "REDIS_HEALTH_CHECK_INTERVAL": "20ms"}))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing may listen at 127.0.0.1:6379 on a test machine, or something
	// may: point the local pool at a closed port, still as its default.
	cfg.Local.URL = closedURL(t)
	var logs redistest.Buffer
	p, err := pools.New(cfg, pools.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	redistest.Eventually(t, 10*time.Second, func() error {
		if n := p.Health(pools.Local).ConsecutiveFailures; n < 3 {
			return fmt.Errorf("%d failed checks of the local pool so far", n)
		}
		return nil
	})
	out := logs.String()
	const want = "the local pool uses its default address"
	if n := strings.Count(out, want); n != 1 {
		t.Errorf("%d warnings containing %q, want 1:\n%s", n, want, out)
	}
	if !strings.Contains(out, "set REDIS_LOCAL_URL") {
		t.Errorf("the warning does not say what to set:\n%s", out)
	}
}

// TestNearMissesWarnedAtStartup (issue 15, item 3): FromEnv logs one
// warning per misspelt variable, naming the closest one.
func TestNearMissesWarnedAtStartup(t *testing.T) {
	t.Setenv("REDIS_MASTER_URL", closedURL(t))
	t.Setenv("REDIS_MASTER_POOLSIZE", "50")
	t.Setenv("REDIS_MASTR_POOL_SIZE", "50")
	t.Setenv("redis_master_pool_size", "50")
	t.Setenv("REDIS_PASSWORD", "other-program")
	t.Setenv("REDIS_VERSION", "7.2")
	for _, r := range []string{"SLAVE", "LOCAL", "ASYNC"} {
		t.Setenv("REDIS_"+r+"_POOL_ENABLED", "0")
	}
	var logs redistest.Buffer
	p, err := pools.FromEnv(pools.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := logs.String()
	for _, name := range []string{"REDIS_MASTER_POOLSIZE", "REDIS_MASTR_POOL_SIZE", "redis_master_pool_size"} {
		if !strings.Contains(out, name+" is not a poolscope variable; did you mean REDIS_MASTER_POOL_SIZE?") {
			t.Errorf("no warning for %s:\n%s", name, out)
		}
	}
	for _, name := range []string{"REDIS_PASSWORD", "REDIS_VERSION", "other-program"} {
		if strings.Contains(out, name) {
			t.Errorf("%s is warned about:\n%s", name, out)
		}
	}
	if p.Config().Master.Max != pools.DefaultMasterSize {
		t.Errorf("a misspelt variable changed the size to %d", p.Config().Master.Max)
	}
}
