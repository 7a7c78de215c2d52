package exporters

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/stdr"
	"go.opentelemetry.io/otel"
)

const canary = "s3cr3t"

// captureOTelOutput sends everything the OpenTelemetry SDK logs or hands to
// otel.Handle to the returned function, for the duration of the test.
func captureOTelOutput(t *testing.T) func() string {
	var mu sync.Mutex
	var b strings.Builder
	write := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		b.WriteString(s)
		b.WriteString("\n")
	}
	previous := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { write(err.Error()) }))
	otel.SetLogger(funcr.New(func(prefix, args string) { write(prefix + " " + args) }, funcr.Options{Verbosity: 10}))
	t.Cleanup(func() {
		otel.SetErrorHandler(previous)
		otel.SetLogger(stdr.New(log.New(os.Stderr, "", log.LstdFlags|log.Lshortfile)))
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
}

func TestSecretsNeverAppearInErrorsOrLogs(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want []string // error text that must appear
	}{
		{
			name: "header entry without =",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer " + canary + "-1," + canary + "-2"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value (entry not shown: it may hold a secret)`},
		},
		{
			name: "header value with bad percent-encoding",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "api-key=" + canary + "%zz"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_METRICS_HEADERS: value of header "api-key" is not valid percent-encoding (value not shown)`},
		},
		{
			name: "header value with a newline",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=" + canary + "%0D%0AX-Evil: 1"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_HEADERS: value of header "api-key" holds control characters (value not shown)`},
		},
		{
			name: "header with an invalid key",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api key=" + canary},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_HEADERS: entry 1: "api key" is not a valid header name`},
		},
		{
			name: "valid headers next to another problem",
			vars: map[string]string{
				"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Bearer%20" + canary,
				"OTEL_METRIC_EXPORT_INTERVAL": "1m",
			},
			want: []string{`exporters: OTEL_METRIC_EXPORT_INTERVAL="1m"`},
		},
		{
			name: "endpoint with a password",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:" + canary + "@collector:4318"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_ENDPOINT="https://user:***@collector:4318": credentials in the URL are not sent; put them in OTEL_EXPORTER_OTLP_HEADERS`},
		},
		{
			name: "endpoint with a token as user name",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://" + canary + "@collector:4318/v1/metrics"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="https://***@collector:4318/v1/metrics": credentials in the URL`},
		},
		{
			name: "endpoint that does not parse, with a password",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:" + canary + "@collector:port"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_ENDPOINT="http://user:***@collector:port": not a valid URL`},
		},
		{
			name: "host:port endpoint with a password",
			vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "user:" + canary + "@collector"},
			want: []string{`exporters: OTEL_EXPORTER_OTLP_ENDPOINT="***@collector": want a URL`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := captureOTelOutput(t)
			p, err := New(context.Background(), env(tt.vars))
			if err == nil {
				_ = p.Shutdown(context.Background())
				t.Fatal("New succeeded")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, want)
				}
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the error shows the secret: %v", err)
			}
			if strings.Contains(logs(), canary) {
				t.Errorf("the logs show the secret:\n%s", logs())
			}
		})
	}
}

// A valid secret header, through a whole failed export and Shutdown, is in
// no error and no log line.
func TestSecretHeaderNeverLoggedWhenExportFails(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			logs := captureOTelOutput(t)
			p, err := New(context.Background(), env(map[string]string{
				"OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + refusingAddr(t),
				"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Bearer%20" + canary,
				"OTEL_METRIC_EXPORT_TIMEOUT":  "200",
				"OTEL_METRIC_EXPORT_INTERVAL": "20",
			}))
			if err != nil {
				t.Fatal(err)
			}
			counter, err := p.MeterProvider().Meter("test").Int64Counter("poolscope.test.secret")
			if err != nil {
				t.Fatal(err)
			}
			counter.Add(context.Background(), 1)
			err = p.Shutdown(context.Background())
			if err == nil {
				t.Fatal("Shutdown succeeded with nothing listening")
			}
			all := fmt.Sprintf("%v\n%s", err, logs())
			if strings.Contains(all, canary) {
				t.Errorf("the secret appears:\n%s", all)
			}
		})
	}
}
