package pools_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// poolscopeName is the only shape a poolscope connection's name may take on
// the server: one Redis word, three fields.
var poolscopeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}:(master|replica|local|async|health):[1-9][0-9]*$`)

// TestHostileServiceNamesOnRealServer gives OTEL_SERVICE_NAME values that
// would break or extend CLIENT SETNAME if passed on as they are (spaces,
// CR/LF with a command after them, quotes, unicode, 64 KiB): every pool
// still connects, CLIENT LIST shows the sanitised name for every
// connection, and no injected command ran (the server's command counts
// show none, and a key written before is still there).
func TestHostileServiceNamesOnRealServer(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, time.Minute)
	admin := s.Admin()
	for name, service := range map[string]string{
		"spaces":            "check out service",
		"newline injection": "svc\r\nFLUSHALL\r\n",
		"RESP injection":    "svc\r\n*1\r\n$8\r\nFLUSHALL\r\n",
		"quotes":            `svc" "x`,
		"colons":            "a:b:c:1",
		"unicode":           "сервис-☃-ｓ",
		"NUL":               "svc\x00FLUSHALL",
		"very long":         strings.Repeat("long", 16<<10),
		"only punctuation":  "::: ",
	} {
		t.Run(name, func(t *testing.T) {
			if err := admin.Set(ctx, "hostile:sentinel", "still here", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := admin.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{
				"OTEL_SERVICE_NAME": service, "REDIS_MASTER_URL": s.URL(), "REDIS_LOCAL_URL": s.URL(),
				"REDIS_ASYNC_POOL_MIN": "2",
			}
			cfg, err := pools.LoadConfig(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
			if err != nil {
				t.Fatalf("OTEL_SERVICE_NAME=%.40q: %v", service, err)
			}
			p, err := pools.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for _, r := range pools.Roles {
				if err := p.Client(r).Ping(ctx).Err(); err != nil {
					t.Fatalf("%s: PING: %v", r, err)
				}
			}
			// Leading and trailing white space is trimmed, by the rule
			// exporters applies to service.name (internal/servicename).
			service := strings.TrimSpace(service)
			want := pools.SanitizeService(service)
			redistest.Eventually(t, 10*time.Second, func() error {
				names, err := s.ClientsByName(ctx)
				if err != nil {
					return err
				}
				for _, r := range pools.Roles {
					n := pools.ClientName(service, r, os.Getpid())
					if names[n] == 0 {
						return fmt.Errorf("no connection named %q in %v", n, names)
					}
				}
				for n := range names {
					if n == "" {
						// The async pool's pre-dialled connections too are
						// named as they are dialled.
						return fmt.Errorf("%d connections without a name: %v", names[n], names)
					}
					if !poolscopeName.MatchString(n) || !strings.HasPrefix(n, want+":") {
						list, _ := admin.ClientList(ctx).Result()
						return fmt.Errorf("connection named %q: not %q:role:pid:\n%s", n, want, list)
					}
				}
				return nil
			})
			stats, err := admin.Info(ctx, "commandstats").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"cmdstat_flushall", "cmdstat_flushdb", "cmdstat_client|kill"} {
				if strings.Contains(stats, cmd+":") {
					t.Errorf("the server ran %s:\n%s", cmd, stats)
				}
			}
			if v, err := admin.Get(ctx, "hostile:sentinel").Result(); err != nil || v != "still here" {
				t.Errorf("the key written before is %q, %v", v, err)
			}
		})
	}
}
