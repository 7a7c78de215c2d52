package pools

import (
	"strings"
	"testing"
)

func TestClientName(t *testing.T) {
	for _, tc := range []struct {
		service string
		want    string
	}{
		{"checkout", "checkout:master:4242"},
		{"", "unknown:master:4242"},
		{"my service", "my_service:master:4242"},
		{"evil\r\nCLIENT KILL", "evil__CLIENT_KILL:master:4242"},
		{"a:b:c", "a_b_c:master:4242"},
		{"café", "caf__:master:4242"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64) + ":master:4242"},
	} {
		got := ClientName(tc.service, Master, 4242)
		if got != tc.want {
			t.Errorf("ClientName(%q) = %q, want %q", tc.service, got, tc.want)
		}
		p, ok := ParseClientName(got)
		if !ok || p.Role != "master" || p.Pid != 4242 || p.Service != SanitizeService(tc.service) {
			t.Errorf("ParseClientName(%q) = %+v, %v", got, p, ok)
		}
	}
}

func TestParseClientNameRejects(t *testing.T) {
	for _, name := range []string{"", "poolscope-agent", "svc:master", "svc:master:", "svc:master:abc", ":master:1",
		"svc::1", "svc:master:1:2", "svc:master:-1", "svc:master:0", "svc:master:+1", "svc:master:01"} {
		if p, ok := ParseClientName(name); ok {
			t.Errorf("ParseClientName(%q) = %+v, want not ok", name, p)
		}
	}
}
