package redisurl

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/0":        "redis://127.0.0.1:6379/0",
		"redis://:pw@h:1/0":               "redis://***@h:1/0",
		"redis://user:pw@h:1/0":           "redis://user:***@h:1/0",
		"redis://pw@h:1":                  "redis://***@h:1",
		"rediss://u:p@ss:w@rd@h:1/0?x=y":  "rediss://u:***@h:1/0?x=***",
		"unix://:pw@/run/redis.sock":      "unix://***@/run/redis.sock",
		"unix:///run/redis.sock":          "unix:///run/redis.sock",
		"pw@h:1":                          "***@h:1",
		"user:pw@collector:4317":          "***@collector:4317",
		"redis://h:1/0?password=pw&db=2":  "redis://h:1/0?password=***&db=2",
		"redis://h:1/0?auth_token=t#frag": "redis://h:1/0?auth_token=***#frag",
		"redis://h:1/0?pasword=pw":        "redis://h:1/0?pasword=***", // misspelt: unknown, masked
		"redis://h:1/0?dial_timeout=3s":   "redis://h:1/0?dial_timeout=3s",
		// Any scheme: the exporters' OTLP endpoints.
		"https://user:pw@collector:4318/v1/metrics?x=1": "https://user:***@collector:4318/v1/metrics?x=***",
		"https://token@collector:4318":                  "https://***@collector:4318",
		"https://user:p@ss@collector:4318":              "https://user:***@collector:4318",
		"https://collector:4318/path@with-at":           "https://collector:4318/path@with-at",
		"":                                              "",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "empty",
		"redis://h:1/0\nFLUSHALL": "contains white space",
		"localhost:6379":          "not a URL",
		"http://:pw@x:1":          `unsupported scheme "http"`,
		"redis://user:pw@h:0/0":   `port "0" out of range`,
		"redis://:pw@db:99999/0":  `port "99999" out of range`,
		"redis://u:pw@db:6379/x":  "not a valid Redis URL",
		"redis://[::1":            "not a valid Redis URL",
	} {
		err := Check(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v, want %q", in, err, want)
			continue
		}
		if strings.Contains(err.Error(), "pw") {
			t.Errorf("Check(%q) quotes the password: %v", in, err)
		}
	}
	for _, ok := range []string{"redis://127.0.0.1:6379/0", "rediss://:pw@db:6380/1", "unix:///run/redis.sock", "redis://:6379/0"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v", ok, err)
		}
	}
}
