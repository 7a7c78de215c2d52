package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

const canary = "CANARY-7f3a9"

func runWith(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = run(ctx, env{
		args:    args,
		stdout:  &out,
		stderr:  &errOut,
		lookup:  func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		environ: func() []string { return environOf(vars) },
	})
	if strings.Contains(out.String()+errOut.String(), canary) {
		t.Errorf("output leaks the password:\n%s\n%s", out.String(), errOut.String())
	}
	return code, out.String(), errOut.String()
}

// environOf is os.Environ's form of a variable map.
func environOf(vars map[string]string) []string {
	var kv []string
	for k, v := range vars {
		kv = append(kv, k+"="+v)
	}
	return kv
}

func TestCheckJSON(t *testing.T) {
	code, out, errOut := runWith(t, map[string]string{
		"REDIS_MASTER_URL":         "redis://app:" + canary + "@db.internal:6380/1",
		"REDIS_LOCAL_POOL_ENABLED": "0",
		"OTEL_SERVICE_NAME":        "checkout",
	}, "check", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var got struct {
		Pools []map[string]any `json:"pools"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := []struct {
		role     string
		enabled  bool
		min, max float64
	}{{"master", true, 0, 10}, {"replica", true, 0, 20}, {"local", false, 0, 0}, {"async", true, 5, 20}}
	if len(got.Pools) != len(want) {
		t.Fatalf("%d pools, want 4", len(got.Pools))
	}
	for i, w := range want {
		p := got.Pools[i]
		if p["role"] != w.role || p["enabled"] != w.enabled || p["min_idle"] != w.min || p["max"] != w.max {
			t.Errorf("pool %d = %v, want %+v", i, p, w)
		}
	}
	if got.Pools[0]["address"] != "redis://app:***@db.internal:6380/1" {
		t.Errorf("address = %v", got.Pools[0]["address"])
	}
	if got.Pools[0]["client_name"] != "checkout:master:<pid>" {
		t.Errorf("client_name = %v", got.Pools[0]["client_name"])
	}
}

func TestCheckTable(t *testing.T) {
	code, out, _ := runWith(t, nil, "check")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"ROLE", "master", "replica", "local", "async", "redis://127.0.0.1:6379/0"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckInvalidExitsTwo(t *testing.T) {
	code, out, errOut := runWith(t, map[string]string{
		"REDIS_MASTER_POOL_SIZE": "abc",
		"REDIS_SLAVE_URL":        "redis://:" + canary + "@h:99999",
	}, "check")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
	if out != "" {
		t.Errorf("stdout not empty: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 2 || !strings.Contains(errOut, `REDIS_MASTER_POOL_SIZE="abc": not a positive integer`) {
		t.Errorf("stderr = %q, want one line per problem", errOut)
	}
}

func TestCheckFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"check", "--timeout", "-1s"}, exitUsage, `--timeout="-1s": must be positive`},
		{[]string{"check", "--timeout", "soon"}, exitUsage, "invalid value"},
		{[]string{"check", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"check", "--help"}, exitOK, "Usage: poolscope check"},
		{[]string{"nosuch"}, exitUsage, `unknown command "nosuch"`},
		{nil, exitUsage, "Usage: poolscope <command>"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runWith(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out+errOut, tc.code, tc.want)
			}
		})
	}
}

func TestCheckConnect(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{Password: canary})
	code, out, errOut := runWith(t, map[string]string{
		"REDIS_MASTER_URL": s.URL(),
		"REDIS_LOCAL_URL":  s.URL(),
	}, "check", "--connect")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Count(out, " ms") != 4 {
		t.Errorf("want a latency for each of the 4 pools:\n%s", out)
	}

	// The local pool points at a closed port: exit 1 and the real cause.
	closed := redistest.RefusedPort(t)
	code, out, _ = runWith(t, map[string]string{
		"REDIS_MASTER_URL": s.URL(),
		"REDIS_LOCAL_URL":  "redis://127.0.0.1:" + strconv.Itoa(closed) + "/0",
	}, "check", "--connect", "--timeout", "2s")
	if code != exitFail || !strings.Contains(out, "connection refused") {
		t.Errorf("exit %d, want 1 and 'connection refused':\n%s", code, out)
	}
}
