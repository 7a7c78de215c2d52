package exporters

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

func resourceOf(t *testing.T, opts ...Option) *attribute.Set {
	t.Helper()
	meter, collectNow := collect(t, opts...)
	c, err := meter.Int64Counter("poolscope.test.resource")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(t.Context(), 1)
	rm := collectNow()
	return rm.Resource.Set()
}

func TestResource(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		vars         map[string]string
		opts         []Option
		wantName     string
		wantInstance string // "" means a generated UUID
		wantExtra    map[attribute.Key]string
	}{
		{name: "executable name by default", wantName: filepath.Base(exe)},
		{name: "default from the option", opts: []Option{WithDefaultServiceName("checkout")}, wantName: "checkout"},
		{
			name:     "OTEL_RESOURCE_ATTRIBUTES over the default",
			vars:     map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,team=cache%20squad"},
			opts:     []Option{WithDefaultServiceName("checkout")},
			wantName: "from-attrs", wantExtra: map[attribute.Key]string{"team": "cache squad"},
		},
		{
			name: "OTEL_SERVICE_NAME over OTEL_RESOURCE_ATTRIBUTES",
			vars: map[string]string{
				"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs",
				"OTEL_SERVICE_NAME":        "from-service-name",
			},
			wantName: "from-service-name",
		},
		{
			name:     "WithResourceAttributes over everything",
			vars:     map[string]string{"OTEL_SERVICE_NAME": "from-service-name"},
			opts:     []Option{WithResourceAttributes(semconv.ServiceName("from-code"), attribute.String("tier", "gold"))},
			wantName: "from-code", wantExtra: map[attribute.Key]string{"tier": "gold"},
		},
		{
			name:         "instance id from OTEL_RESOURCE_ATTRIBUTES",
			vars:         map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-7"},
			wantName:     filepath.Base(exe),
			wantInstance: "pod-7",
		},
		{
			name:     "detected attributes can be overridden",
			vars:     map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "host.name=redis-client-1"},
			wantName: filepath.Base(exe), wantExtra: map[attribute.Key]string{"host.name": "redis-client-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := with(tt.vars, "OTEL_METRICS_EXPORTER", "none")
			res := resourceOf(t, append([]Option{env(vars)}, tt.opts...)...)
			if got, _ := res.Value(semconv.ServiceNameKey); got.AsString() != tt.wantName {
				t.Errorf("service.name = %q, want %q", got.AsString(), tt.wantName)
			}
			instance, _ := res.Value(semconv.ServiceInstanceIDKey)
			if tt.wantInstance != "" && instance.AsString() != tt.wantInstance {
				t.Errorf("service.instance.id = %q, want %q", instance.AsString(), tt.wantInstance)
			}
			if _, err := uuid.Parse(instance.AsString()); tt.wantInstance == "" && err != nil {
				t.Errorf("service.instance.id = %q, not a UUID", instance.AsString())
			}
			for k, want := range tt.wantExtra {
				if got, _ := res.Value(k); got.AsString() != want {
					t.Errorf("%s = %q, want %q", k, got.AsString(), want)
				}
			}
		})
	}
}

func TestResourceDescribesTheProcessWithoutItsArguments(t *testing.T) {
	res := resourceOf(t)
	if got, _ := res.Value(semconv.ProcessPIDKey); got.AsInt64() != int64(os.Getpid()) {
		t.Errorf("process.pid = %v, want %d", got.AsInt64(), os.Getpid())
	}
	for _, k := range []attribute.Key{
		semconv.HostNameKey, semconv.ProcessExecutableNameKey, semconv.ProcessCommandKey,
		semconv.ProcessRuntimeNameKey, semconv.ProcessRuntimeVersionKey, semconv.TelemetrySDKNameKey,
	} {
		if !res.HasValue(k) {
			t.Errorf("no %s", k)
		}
	}
	// Flags may carry passwords (redis://:password@host).
	for _, k := range []attribute.Key{semconv.ProcessCommandArgsKey, semconv.ProcessCommandLineKey, semconv.ProcessExecutablePathKey} {
		if res.HasValue(k) {
			v, _ := res.Value(k)
			t.Errorf("%s is recorded: %v", k, v.Emit())
		}
	}
	if got, _ := res.Value(semconv.ProcessCommandKey); got.AsString() != os.Args[0] {
		t.Errorf("process.command = %q, want argv[0] %q", got.AsString(), os.Args[0])
	}
}

func TestEachPipelineHasItsOwnInstanceID(t *testing.T) {
	a, _ := resourceOf(t).Value(semconv.ServiceInstanceIDKey)
	b, _ := resourceOf(t).Value(semconv.ServiceInstanceIDKey)
	if a.AsString() == b.AsString() {
		t.Errorf("two pipelines share service.instance.id %q", a.AsString())
	}
}
