package pools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env turns a map into a lookup function, so tests never touch the process
// environment.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		role         Role
		min, max     int
		enabled, tls bool
	}{
		{Master, 0, 10, true, false},
		{Replica, 0, 20, true, false},
		{Local, 0, 5, true, false},
		{Async, 5, 20, true, false},
	}
	for _, w := range want {
		rc := cfg.Role(w.role)
		if rc.Role != w.role || rc.Enabled != w.enabled || rc.MinIdle != w.min || rc.Max != w.max || rc.URL != DefaultURL || rc.TLS() {
			t.Errorf("%s = %+v, want enabled=%v min=%d max=%d url=%s", w.role, *rc, w.enabled, w.min, w.max, DefaultURL)
		}
	}
	if cfg.PoolTimeout != 4*time.Second || cfg.IdleTimeout != 5*time.Minute || cfg.MaxLifetime != 30*time.Minute || cfg.HealthCheckInterval != 10*time.Second {
		t.Errorf("tuning = %v %v %v %v", cfg.PoolTimeout, cfg.IdleTimeout, cfg.MaxLifetime, cfg.HealthCheckInterval)
	}
	if cfg.healthCheckTimeout() != time.Second {
		t.Errorf("health timeout = %v, want 1s", cfg.healthCheckTimeout())
	}
	if cfg.Sentinel.Enabled() {
		t.Error("Sentinel enabled by default")
	}
}

func TestLoadConfigValues(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{
		"OTEL_SERVICE_NAME":           "checkout",
		"REDIS_MASTER_POOL_ENABLED":   "true",
		"REDIS_MASTER_POOL_SIZE":      "7",
		"REDIS_REPLICA_POOL_ENABLED":  "0", // alias of REDIS_SLAVE_POOL_ENABLED
		"REDIS_SLAVE_POOL_SIZE":       "30",
		"REDIS_REPLICA_POOL_SIZE":     "30", // same value: fine
		"REDIS_LOCAL_POOL_ENABLED":    "FALSE",
		"REDIS_ASYNC_POOL_MIN":        "0",
		"REDIS_ASYNC_POOL_MAX":        "3",
		"REDIS_MASTER_URL":            "redis://:pw@10.0.0.1:6380/2",
		"REDIS_REPLICA_URL":           "redis://10.0.0.2:6380/2",
		"REDIS_LOCAL_URL":             "unix:///run/redis.sock",
		"REDIS_POOL_TIMEOUT":          "250ms",
		"REDIS_POOL_IDLE_TIMEOUT":     "0",
		"REDIS_POOL_MAX_LIFETIME":     "1h",
		"REDIS_HEALTH_CHECK_INTERVAL": "200ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Service != "checkout" || !cfg.Master.Enabled || cfg.Master.Max != 7 || cfg.Replica.Enabled || cfg.Replica.Max != 30 || cfg.Local.Enabled {
		t.Errorf("cfg = %+v", cfg)
	}
	if cfg.Async.MinIdle != 0 || cfg.Async.Max != 3 || cfg.Async.URL != "redis://:pw@10.0.0.1:6380/2" {
		t.Errorf("async = %+v, want min 0 max 3 and the master URL", cfg.Async)
	}
	if cfg.Replica.URL != "redis://10.0.0.2:6380/2" || cfg.Local.URL != "unix:///run/redis.sock" {
		t.Errorf("urls = %q %q", cfg.Replica.URL, cfg.Local.URL)
	}
	if cfg.PoolTimeout != 250*time.Millisecond || cfg.IdleTimeout != 0 || cfg.MaxLifetime != time.Hour || cfg.healthCheckTimeout() != 200*time.Millisecond {
		t.Errorf("tuning = %v %v %v %v", cfg.PoolTimeout, cfg.IdleTimeout, cfg.MaxLifetime, cfg.healthCheckTimeout())
	}
}

func TestReplicaURLDefaultsToMaster(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{"REDIS_MASTER_URL": "redis://db:7000/1"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Replica.URL != "redis://db:7000/1" || cfg.Async.URL != "redis://db:7000/1" || cfg.Local.URL != DefaultURL {
		t.Errorf("replica %q async %q local %q", cfg.Replica.URL, cfg.Async.URL, cfg.Local.URL)
	}
}

func TestSentinelConfig(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{
		"REDIS_SENTINEL_ADDRS":    "10.0.0.1:26379,10.0.0.2:26379",
		"REDIS_SENTINEL_MASTER":   "mymaster",
		"REDIS_SENTINEL_PASSWORD": "sentinel-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Master.ViaSentinel || !cfg.Replica.ViaSentinel || !cfg.Async.ViaSentinel || cfg.Local.ViaSentinel {
		t.Errorf("via sentinel: master %v replica %v async %v local %v", cfg.Master.ViaSentinel, cfg.Replica.ViaSentinel, cfg.Async.ViaSentinel, cfg.Local.ViaSentinel)
	}
	if len(cfg.Sentinel.Addrs) != 2 || cfg.Sentinel.MasterName != "mymaster" || cfg.Sentinel.Password != "sentinel-secret" {
		t.Errorf("sentinel = %+v", cfg.Sentinel)
	}
}

// TestBadValues is the table of hostile inputs: each gets an error naming
// the variable and the value it got, and no error ever shows a password.
func TestBadValues(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.pem")
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	const secret = "CANARY-s3cr3t"
	long := strings.Repeat("9", 400)
	cases := []struct {
		name string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"size not a number", map[string]string{"REDIS_MASTER_POOL_SIZE": "abc"}, []string{`REDIS_MASTER_POOL_SIZE="abc": not a positive integer`}},
		{"size empty", map[string]string{"REDIS_MASTER_POOL_SIZE": ""}, []string{`REDIS_MASTER_POOL_SIZE="": not a positive integer`}},
		{"size with spaces", map[string]string{"REDIS_LOCAL_POOL_SIZE": " 5 "}, []string{`REDIS_LOCAL_POOL_SIZE=" 5 ": not a positive integer`}},
		{"size zero", map[string]string{"REDIS_MASTER_POOL_SIZE": "0"}, []string{`REDIS_MASTER_POOL_SIZE="0": out of range (want 1 to 10000)`}},
		{"size negative", map[string]string{"REDIS_SLAVE_POOL_SIZE": "-3"}, []string{`REDIS_SLAVE_POOL_SIZE="-3": out of range`}},
		{"size huge", map[string]string{"REDIS_ASYNC_POOL_MAX": "100001"}, []string{`REDIS_ASYNC_POOL_MAX="100001": out of range`}},
		{"size very long", map[string]string{"REDIS_ASYNC_POOL_MAX": long}, []string{`REDIS_ASYNC_POOL_MAX="` + long + `": not a positive integer`}},
		{"size unicode", map[string]string{"REDIS_MASTER_POOL_SIZE": "１０"}, []string{`REDIS_MASTER_POOL_SIZE="１０": not a positive integer`}},
		{"size float", map[string]string{"REDIS_MASTER_POOL_SIZE": "2.5"}, []string{`REDIS_MASTER_POOL_SIZE="2.5"`}},
		{"min negative", map[string]string{"REDIS_ASYNC_POOL_MIN": "-1"}, []string{`REDIS_ASYNC_POOL_MIN="-1": out of range (want 0 to 10000)`}},
		{"min above max", map[string]string{"REDIS_ASYNC_POOL_MIN": "9", "REDIS_ASYNC_POOL_MAX": "4"}, []string{`REDIS_ASYNC_POOL_MIN="9" is larger than REDIS_ASYNC_POOL_MAX="4"`}},
		{"flag yes", map[string]string{"REDIS_MASTER_POOL_ENABLED": "yes"}, []string{`REDIS_MASTER_POOL_ENABLED="yes": not a flag (want 1, 0, true or false)`}},
		{"flag empty", map[string]string{"REDIS_ASYNC_POOL_ENABLED": ""}, []string{`REDIS_ASYNC_POOL_ENABLED="": not a flag`}},
		{"flag 2", map[string]string{"REDIS_LOCAL_POOL_ENABLED": "2"}, []string{`REDIS_LOCAL_POOL_ENABLED="2": not a flag`}},
		{"aliases disagree", map[string]string{"REDIS_SLAVE_POOL_SIZE": "5", "REDIS_REPLICA_POOL_SIZE": "6"}, []string{`REDIS_SLAVE_POOL_SIZE="5" and REDIS_REPLICA_POOL_SIZE="6" disagree`}},
		{"alias flags disagree", map[string]string{"REDIS_SLAVE_POOL_ENABLED": "1", "REDIS_REPLICA_POOL_ENABLED": "0"}, []string{`REDIS_SLAVE_POOL_ENABLED="1" and REDIS_REPLICA_POOL_ENABLED="0" disagree`}},
		{"url aliases disagree", map[string]string{"REDIS_SLAVE_URL": "redis://:" + secret + "@a:1", "REDIS_REPLICA_URL": "redis://b:1"}, []string{`REDIS_SLAVE_URL="redis://***@a:1" and REDIS_REPLICA_URL="redis://b:1" disagree`}},
		{"url empty", map[string]string{"REDIS_MASTER_URL": ""}, []string{`REDIS_MASTER_URL="": empty`}},
		{"url scheme", map[string]string{"REDIS_MASTER_URL": "http://u:" + secret + "@h:1"}, []string{`REDIS_MASTER_URL="http://u:***@h:1": unsupported scheme "http"`}},
		{"url not a url", map[string]string{"REDIS_LOCAL_URL": "localhost:6379"}, []string{`REDIS_LOCAL_URL="localhost:6379": not a URL`}},
		{"url bad port", map[string]string{"REDIS_MASTER_URL": "redis://:" + secret + "@h:99999/0"}, []string{`REDIS_MASTER_URL="redis://***@h:99999/0": port "99999" out of range`}},
		{"url malformed with password", map[string]string{"REDIS_MASTER_URL": "redis://user:" + secret + "@h:1/%zz"}, []string{`REDIS_MASTER_URL="redis://user:***@h:1/%zz": not a valid Redis URL`}},
		{"url password in query", map[string]string{"REDIS_MASTER_URL": "redis://h:1/0?password=" + secret}, []string{`REDIS_MASTER_URL="redis://h:1/0?password=***": not a valid Redis URL`}},
		{"url bad db", map[string]string{"REDIS_MASTER_URL": "redis://h:1/notanumber"}, []string{`REDIS_MASTER_URL="redis://h:1/notanumber": not a valid Redis URL`}},
		{"url spaces", map[string]string{"REDIS_ASYNC_URL": "redis://h :1"}, []string{`REDIS_ASYNC_URL="redis://h :1": contains white space`}},
		{"duration not a duration", map[string]string{"REDIS_POOL_TIMEOUT": "5"}, []string{`REDIS_POOL_TIMEOUT="5": not a duration`}},
		{"duration zero", map[string]string{"REDIS_HEALTH_CHECK_INTERVAL": "0s"}, []string{`REDIS_HEALTH_CHECK_INTERVAL="0s": must be positive`}},
		{"duration negative", map[string]string{"REDIS_POOL_IDLE_TIMEOUT": "-1m"}, []string{`REDIS_POOL_IDLE_TIMEOUT="-1m": must be 0 (off) or positive`}},
		{"duration huge", map[string]string{"REDIS_POOL_MAX_LIFETIME": "9999h"}, []string{`REDIS_POOL_MAX_LIFETIME="9999h": longer than 24h`}},
		{"duration tiny", map[string]string{"REDIS_POOL_TIMEOUT": "5ns"}, []string{`REDIS_POOL_TIMEOUT="5ns": shorter than 1ms`}},
		{"sentinel without master", map[string]string{"REDIS_SENTINEL_ADDRS": "h:26379"}, []string{`REDIS_SENTINEL_ADDRS="h:26379" is set without REDIS_SENTINEL_MASTER`}},
		{"sentinel master without addrs", map[string]string{"REDIS_SENTINEL_MASTER": "m"}, []string{`REDIS_SENTINEL_MASTER="m" is set without REDIS_SENTINEL_ADDRS`}},
		{"sentinel bad addr", map[string]string{"REDIS_SENTINEL_ADDRS": "h:1,nohost", "REDIS_SENTINEL_MASTER": "m"}, []string{`REDIS_SENTINEL_ADDRS="h:1,nohost": "nohost" is not host:port`}},
		{"sentinel empty password", map[string]string{"REDIS_SENTINEL_ADDRS": "h:1", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_PASSWORD": ""}, []string{`REDIS_SENTINEL_PASSWORD is set but empty`}},
		{"sentinel password alone", map[string]string{"REDIS_SENTINEL_PASSWORD": secret}, []string{`REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINEL_ADDRS`}},
		{"sentinel with unix master", map[string]string{"REDIS_SENTINEL_ADDRS": "h:1", "REDIS_SENTINEL_MASTER": "m", "REDIS_MASTER_URL": "unix:///tmp/r.sock"}, []string{`a unix socket cannot be combined with REDIS_SENTINEL_ADDRS`}},
		{"tls file without rediss", map[string]string{"REDIS_TLS_CA_FILE": "/etc/ca.pem"}, []string{`REDIS_TLS_CA_FILE="/etc/ca.pem" is set but no REDIS_*_URL uses rediss://`}},
		{"tls ca missing", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_CA_FILE": filepath.Join(dir, "missing.pem")}, []string{`REDIS_TLS_CA_FILE="` + filepath.Join(dir, "missing.pem") + `": cannot read the CA certificate: no such file or directory`}},
		{"tls ca not pem", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_CA_FILE": notPEM}, []string{`REDIS_TLS_CA_FILE="` + notPEM + `": no PEM certificate in the file`}},
		{"tls ca empty", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_CA_FILE": ""}, []string{`REDIS_TLS_CA_FILE is set but empty`}},
		{"tls cert without key", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_CERT_FILE": notPEM}, []string{`REDIS_TLS_CERT_FILE="` + notPEM + `": set without REDIS_TLS_KEY_FILE`}},
		{"tls bad pair", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_CERT_FILE": notPEM, "REDIS_TLS_KEY_FILE": notPEM}, []string{`REDIS_TLS_CERT_FILE="` + notPEM + `": cannot load the client certificate with REDIS_TLS_KEY_FILE="` + notPEM + `"`}},
		{"tls server name", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_SERVER_NAME": "a b"}, []string{`REDIS_TLS_SERVER_NAME="a b": not a host name`}},
		{"tls insecure flag", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_INSECURE_SKIP_VERIFY": "maybe"}, []string{`REDIS_TLS_INSECURE_SKIP_VERIFY="maybe": not a flag`}},
		{"every problem at once", map[string]string{"REDIS_MASTER_POOL_SIZE": "x", "REDIS_LOCAL_POOL_ENABLED": "y", "REDIS_POOL_TIMEOUT": "z"},
			[]string{`REDIS_MASTER_POOL_SIZE="x"`, `REDIS_LOCAL_POOL_ENABLED="y"`, `REDIS_POOL_TIMEOUT="z"`}},
	}
	if os.Geteuid() != 0 { // root reads mode-000 files
		cases = append(cases, struct {
			name string
			env  map[string]string
			want []string
		}{"tls ca unreadable", map[string]string{"REDIS_MASTER_URL": "rediss://h:1", "REDIS_TLS_CA_FILE": unreadable}, []string{`REDIS_TLS_CA_FILE="` + unreadable + `": permission denied`}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(env(tc.env))
			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "pools: ") {
					t.Errorf("error line %q lacks the package prefix", line)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks the password: %q", msg)
			}
		})
	}
}

// TestRedactURL: the exported RedactURL is internal/redisurl's Redact, whose
// test holds the cases.
func TestRedactURL(t *testing.T) {
	if got := RedactURL("rediss://u:pw@h:1/0?x=y"); got != "rediss://u:***@h:1/0?x=***" {
		t.Errorf("RedactURL = %q", got)
	}
}
