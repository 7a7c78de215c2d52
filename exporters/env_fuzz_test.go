package exporters

import (
	"strings"
	"testing"

	"github.com/poolscope/poolscope/internal/redisurl"
)

// fuzzSecret marks a credential in fuzzed values: no error may show it,
// unless the fuzzer put it where values are public (a header's key, a
// resource attribute, a URL's host).
const fuzzSecret = "SECRET"

// FuzzReadSettings: any value of any OTEL_* variable, with both exporters
// that read variables selected, gives settings or an error, never a panic;
// an error never shows a header value or a URL's password.
func FuzzReadSettings(f *testing.F) {
	for _, seed := range [][2]string{
		{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20SECRET,x-tenant=a"},
		{"OTEL_EXPORTER_OTLP_HEADERS", "SECRET"},
		{"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "api-key=SECRET%zz"},
		{"OTEL_EXPORTER_OTLP_HEADERS", "api-key=SECRET%0D%0AX-Evil:%201"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:SECRET@collector:4318"},
		{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://SECRET@[::1"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "10000"},
		{"OTEL_METRIC_EXPORT_INTERVAL", "-1"},
		{"OTEL_METRICS_EXPORTER", "otlp,prometheus,console"},
		{"OTEL_RESOURCE_ATTRIBUTES", "service.version=1.2,deployment.environment.name=prod%20eu"},
		{"OTEL_EXPORTER_PROMETHEUS_PORT", "65536"},
		{"OTEL_EXPORTER_OTLP_INSECURE", "true"},
		{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		vars := map[string]string{"OTEL_METRICS_EXPORTER": "otlp,prometheus", key: value}
		c := newConfig([]Option{WithLookup(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })})
		_, err := readSettings(c)
		if err == nil || !strings.Contains(err.Error(), fuzzSecret) {
			return
		}
		switch {
		case strings.HasSuffix(key, "_HEADERS"):
			for entry := range strings.SplitSeq(value, ",") {
				if k, _, found := strings.Cut(entry, "="); found && strings.Contains(k, fuzzSecret) {
					return // a key is not secret, and errors name it
				}
			}
			t.Fatalf("%s=%q: the error shows a header value: %v", key, value, err)
		case strings.HasSuffix(key, "_ENDPOINT"):
			if strings.Contains(redisurl.Redact(value), fuzzSecret) {
				return // the secret is not in the userinfo
			}
			t.Fatalf("%s=%q: the error shows the URL's password: %v", key, value, err)
		}
	})
}
