package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// checkJSON runs check --json (plus args) and decodes its output.
func checkJSON(t *testing.T, vars map[string]string, args ...string) (code int, pools []poolView, stderr string) {
	t.Helper()
	code, out, stderr := runWith(t, vars, append([]string{"check", "--json"}, args...)...)
	var got struct {
		Pools []poolView `json:"pools"`
	}
	if code != exitUsage {
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
	}
	return code, got.Pools, stderr
}

// TestCheckNearMisses (issue 15, item 3): a misspelt variable is reported,
// naming the closest one, and check exits 2; other programs' variables are
// not.
func TestCheckNearMisses(t *testing.T) {
	for _, name := range []string{"REDIS_MASTER_POOLSIZE", "REDIS_MASTR_POOL_SIZE", "redis_master_pool_size"} {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runWith(t, map[string]string{name: "50"}, "check")
			want := "pools: " + name + " is not a poolscope variable; did you mean REDIS_MASTER_POOL_SIZE?"
			if code != exitUsage || !strings.Contains(stderr, want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, stderr, want)
			}
		})
	}
	code, out, stderr := runWith(t, map[string]string{"REDIS_PASSWORD": "x", "REDIS_VERSION": "7.2", "REDIS_URL": "redis://h:1/0"}, "check")
	if code != exitOK || stderr != "" || !strings.Contains(out, "ROLE") {
		t.Errorf("other programs' variables: exit %d, stderr %q", code, stderr)
	}
}

// TestCheckOrigins (issue 15, item 6): check shows where each value came
// from, and notes that the local pool stays at its default address when
// only REDIS_MASTER_URL is set.
func TestCheckOrigins(t *testing.T) {
	vars := map[string]string{"REDIS_MASTER_URL": "redis://db:6379/0", "REDIS_SLAVE_POOL_SIZE": "7", "OTEL_SERVICE_NAME": "checkout"}
	code, views, stderr := checkJSON(t, vars)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]poolOrigins{
		"master":  {"default", "REDIS_MASTER_URL", "default", "default"},
		"replica": {"default", "from REDIS_MASTER_URL", "default", "REDIS_SLAVE_POOL_SIZE"},
		"local":   {"default", "default", "default", "default"},
		"async":   {"default", "from REDIS_MASTER_URL", "default", "default"},
	}
	for _, v := range views {
		if v.Origins != want[v.Role] {
			t.Errorf("%s origins %+v, want %+v", v.Role, v.Origins, want[v.Role])
		}
	}
	const note = "the local pool uses its default address redis://127.0.0.1:6379/0 (REDIS_LOCAL_URL is not set)"
	if strings.Count(stderr, note) != 1 {
		t.Errorf("stderr lacks the note once:\n%s", stderr)
	}
	_, out, _ := runWith(t, vars, "check")
	for _, w := range []string{"service checkout (from OTEL_SERVICE_NAME)", "from REDIS_MASTER_URL", "REDIS_SLAVE_POOL_SIZE"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	vars["REDIS_LOCAL_URL"] = "unix:///run/redis.sock"
	if _, _, stderr := checkJSON(t, vars); strings.Contains(stderr, "local pool") {
		t.Errorf("a note with REDIS_LOCAL_URL set:\n%s", stderr)
	}
}

// TestCheckSaysTLSIsNotVerified (issue 15, item 7): with
// REDIS_TLS_INSECURE_SKIP_VERIFY=1, check --connect against a TLS server
// says plainly that certificates are not verified, in text and JSON.
func TestCheckSaysTLSIsNotVerified(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{TLS: true, Password: canary})
	for _, tc := range []struct {
		name     string
		vars     map[string]string
		verified bool
	}{
		{"verified", map[string]string{"REDIS_TLS_CA_FILE": s.TLS.CAFile}, true},
		{"not verified", map[string]string{"REDIS_TLS_INSECURE_SKIP_VERIFY": "1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.vars["REDIS_MASTER_URL"], tc.vars["REDIS_LOCAL_URL"] = s.URL(), s.URL()
			code, out, stderr := runWith(t, tc.vars, "check", "--connect")
			if code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
			}
			said := strings.Count(out, "yes (certificates NOT verified)") == 4 && strings.Contains(stderr, "NOT verified")
			if said == tc.verified {
				t.Errorf("verified %v, output:\n%s\n%s", tc.verified, out, stderr)
			}
			code, views, _ := checkJSON(t, tc.vars, "--connect")
			if code != exitOK {
				t.Fatalf("json: exit %d", code)
			}
			for _, v := range views {
				if !v.TLS || v.TLSVerified == nil || *v.TLSVerified != tc.verified {
					t.Errorf("%s: tls %v, tls_certificates_verified %v, want %v", v.Role, v.TLS, v.TLSVerified, tc.verified)
				}
			}
		})
	}
}
