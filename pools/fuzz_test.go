package pools

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzLoadConfig: any value of any variable gives a config or an error,
// never a panic, and an error never quotes a URL's password.
func FuzzLoadConfig(f *testing.F) {
	for _, seed := range [][2]string{
		{"REDIS_MASTER_POOL_SIZE", "10"}, {"REDIS_MASTER_POOL_SIZE", "abc"}, {"REDIS_ASYNC_POOL_MIN", "-1"},
		{"REDIS_MASTER_URL", "redis://:pw@127.0.0.1:6379/0"}, {"REDIS_MASTER_URL", "rediss://u:pw@h:1/0?dial_timeout=1s"},
		{"REDIS_LOCAL_URL", "unix:///run/redis.sock"}, {"REDIS_SENTINEL_ADDRS", "a:1,b:2"}, {"REDIS_POOL_TIMEOUT", "1s"},
		{"REDIS_SLAVE_POOL_ENABLED", "true"}, {"REDIS_MASTER_URL", "redis://:%zz@h"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		vars := map[string]string{name: value}
		cfg, err := LoadConfig(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
		if err != nil {
			if pw := urlPassword(value); pw != "" && len(pw) >= 4 && strings.Contains(err.Error(), pw) && !strings.Contains(RedactURL(value), pw) {
				t.Errorf("error for %s=%q quotes the password: %v", name, value, err)
			}
			return
		}
		for _, r := range Roles {
			rc := cfg.Role(r)
			if rc.Max < 1 || rc.MinIdle < 0 || rc.MinIdle > rc.Max {
				t.Errorf("accepted %s=%q but %s pool has min %d max %d", name, value, r, rc.MinIdle, rc.Max)
			}
		}
	})
}

func urlPassword(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// FuzzRedactURL: the password of a parseable URL never survives redaction.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"redis://:pw@h:1/0", "redis://u:pw@h:1", "rediss://u:p@ss@h/0?x=1", "unix://:pw@/tmp/s", "pw@h", "redis://h:1/0?password=secret"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := RedactURL(raw)
		if pw := urlPassword(raw); len(pw) >= 4 && strings.Contains(out, pw) && !strings.Contains(strings.Replace(raw, pw, "", 1), pw) {
			t.Errorf("RedactURL(%q) = %q keeps the password %q", raw, out, pw)
		}
	})
}

// FuzzParseClientName: parsing never panics, and whatever parses is what
// ClientName would have built from its parts.
func FuzzParseClientName(f *testing.F) {
	for _, s := range []string{"checkout:master:4242", "poolscope-agent", "", "a:b:c:d", "svc:health:1", "x::1", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, ok := ParseClientName(name)
		if !ok {
			return
		}
		if p.Pid <= 0 || p.Service == "" || p.Role == "" {
			t.Errorf("ParseClientName(%q) = %+v", name, p)
		}
		if SanitizeService(p.Service) == p.Service && ClientName(p.Service, Role(p.Role), p.Pid) != name {
			t.Errorf("ParseClientName(%q) = %+v does not round-trip", name, p)
		}
	})
}

// FuzzClientName: whatever the service name, the client name is one Redis
// word (no spaces, quotes or control bytes) and parses back.
func FuzzClientName(f *testing.F) {
	for _, s := range []string{"checkout", "", "a b", "evil\r\nCLIENT KILL", "\"quoted\"", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, service string) {
		name := ClientName(service, Master, 42)
		for _, c := range []byte(name) {
			if c <= ' ' || c >= 0x7f || c == '"' || c == '\'' {
				t.Fatalf("ClientName(%q) = %q holds byte %q", service, name, c)
			}
		}
		if p, ok := ParseClientName(name); !ok || p.Pid != 42 || p.Role != "master" {
			t.Fatalf("ParseClientName(ClientName(%q)) = %+v, %v", service, p, ok)
		}
	})
}
