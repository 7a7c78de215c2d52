package servicename

import (
	"testing"
)

func TestResolve(t *testing.T) {
	exe := Executable()
	for _, tc := range []struct {
		name     string
		env      map[string]string
		def      string
		want     string
		wantFrom string
	}{
		{"nothing", nil, "", exe, FromExecutable},
		{"program default", nil, "userapp", "userapp", FromDefault},
		{"service name wins", map[string]string{"OTEL_SERVICE_NAME": "svc", "OTEL_RESOURCE_ATTRIBUTES": "service.name=res"}, "userapp", "svc", FromServiceName},
		{"resource attribute", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=b, service.name = check%20out ,c=d"}, "userapp", "check out", FromResource},
		{"blank service name", map[string]string{"OTEL_SERVICE_NAME": "  "}, "userapp", "userapp", FromDefault},
		{"bad resource entries skipped", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "novalue,service.name=%zz"}, "", exe, FromExecutable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			got, from := Resolve(lookup, tc.def)
			if got != tc.want || from != tc.wantFrom {
				t.Errorf("Resolve = %q from %s, want %q from %s", got, from, tc.want, tc.wantFrom)
			}
		})
	}
}
