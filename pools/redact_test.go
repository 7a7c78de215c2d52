package pools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestConfigNeverPrintsAPassword: a whole Config, with a password in every
// URL and the Sentinel password set, printed under every verb and encoder,
// shows none of them.
func TestConfigNeverPrintsAPassword(t *testing.T) {
	const pw = "hunter2-canary"
	cfg, err := LoadConfig(env(map[string]string{
		"REDIS_MASTER_URL": "redis://app:" + pw + "@db:6379/0", "REDIS_LOCAL_URL": "redis://:" + pw + "@127.0.0.1:6379/0",
		"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_PASSWORD": pw,
	}))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"config": cfg, "pointer": &cfg, "role": cfg.Master, "role pointer": &cfg.Master, "sentinel": cfg.Sentinel} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
				t.Errorf("%s %s shows the password: %s", name, verb, out)
			}
		}
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "v", v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if out := logs.String() + string(b); strings.Contains(out, pw) {
			t.Errorf("%s: slog or JSON shows the password: %s", name, out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", cfg.Master), "URL:redis://app:***@db:6379/0") {
		t.Errorf("%%+v = %+v", cfg.Master)
	}
	if cfg.Master.URL != "redis://app:"+pw+"@db:6379/0" || cfg.Sentinel.Password.Value() != pw {
		t.Error("the real values are gone")
	}
}
