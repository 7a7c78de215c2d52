package exporters

import (
	"testing"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/poolscope/poolscope/pools"
)

// TestServiceNameAgreesWithPools (issue 15, item 4): for the same
// environment, service.name is the service part of the pools' client names
// (CLIENT LIST "service:role:pid"), so that the server-side and the
// client-side views of one service agree.
func TestServiceNameAgreesWithPools(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
	}{
		{"nothing set", nil},
		{"OTEL_SERVICE_NAME", map[string]string{"OTEL_SERVICE_NAME": "userapp"}},
		{"OTEL_SERVICE_NAME with spaces around", map[string]string{"OTEL_SERVICE_NAME": "  userapp "}},
		{"OTEL_RESOURCE_ATTRIBUTES", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=cache,service.name=userapp"}},
		{"both", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=res", "OTEL_SERVICE_NAME": "svc"}},
		{"blank OTEL_SERVICE_NAME", map[string]string{"OTEL_SERVICE_NAME": " ", "OTEL_RESOURCE_ATTRIBUTES": "service.name=res"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := pools.LoadConfig(func(k string) (string, bool) { v, ok := tc.vars[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			res := resourceOf(t, env(with(tc.vars, "OTEL_METRICS_EXPORTER", "none")))
			got, _ := res.Value(semconv.ServiceNameKey)
			if got.AsString() != cfg.Service {
				t.Errorf("service.name %q, pools' service %q", got.AsString(), cfg.Service)
			}
		})
	}
}
