package exporters

import (
	"context"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/poolscope/poolscope/internal/latency"
)

func TestOTLPExportReachesAReceiver(t *testing.T) {
	tests := []struct {
		name     string
		grpc     bool
		vars     func(addr string) map[string]string
		wantPath string // http only
	}{
		{
			name: "grpc, URL endpoint",
			grpc: true,
			vars: func(addr string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr,
				}
			},
		},
		{
			name: "grpc, host:port endpoint with insecure",
			grpc: true,
			vars: func(addr string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
					"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": addr,
					"OTEL_EXPORTER_OTLP_METRICS_INSECURE": "true",
					"OTEL_EXPORTER_OTLP_COMPRESSION":      "gzip",
				}
			},
		},
		{
			name: "http/protobuf, base URL",
			vars: func(addr string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr + "/otlp/",
				}
			},
			wantPath: "/otlp/v1/metrics",
		},
		{
			name: "http/protobuf is the default protocol; metrics URL as is; gzip",
			vars: func(addr string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://wrong.invalid:1",
					"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://" + addr + "/custom",
					"OTEL_EXPORTER_OTLP_COMPRESSION":      "gzip",
				}
			},
			wantPath: "/custom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rcv *receiver
			var addr string
			if tt.grpc {
				rcv, addr = startGRPCReceiver(t)
			} else {
				rcv, addr = startHTTPReceiver(t)
			}
			vars := with(tt.vars(addr),
				"OTEL_METRICS_EXPORTER", "otlp",
				"OTEL_SERVICE_NAME", "otlp-test",
				"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci,team=cache%20squad",
				"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t0ken,X-Tenant=acme",
				"OTEL_METRIC_EXPORT_TIMEOUT", "5000",
			)
			p, err := New(context.Background(), env(vars))
			if err != nil {
				t.Fatal(err)
			}
			shutdown(t, p)
			meter := p.MeterProvider().Meter("test")
			hits, err := meter.Int64Counter("redis.client.connection.hits")
			if err != nil {
				t.Fatal(err)
			}
			wait, err := meter.Float64Histogram("db.client.connection.wait_time", metric.WithUnit("s"))
			if err != nil {
				t.Fatal(err)
			}
			hits.Add(context.Background(), 5, metric.WithAttributes(attribute.String("db.client.connection.pool.name", "master")))
			wait.Record(context.Background(), 0.0003)

			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			reqs, headers := rcv.received()
			if len(reqs) == 0 {
				t.Fatal("the receiver got nothing")
			}
			m, res := findMetric(reqs, "redis.client.connection.hits")
			if m == nil {
				t.Fatalf("no redis.client.connection.hits in %v", reqs)
			}
			if got := m.GetSum().GetDataPoints()[0].GetAsInt(); got != 5 {
				t.Errorf("hits = %d, want 5", got)
			}
			for k, want := range map[string]string{
				"service.name":                "otlp-test",
				"deployment.environment.name": "ci",
				"team":                        "cache squad",
			} {
				if res[k] != want {
					t.Errorf("resource %s = %q, want %q (resource: %v)", k, res[k], want, res)
				}
			}
			h, _ := findMetric(reqs, "db.client.connection.wait_time")
			if got := h.GetHistogram().GetDataPoints()[0].GetExplicitBounds(); !equalFloats(got, latency.Boundaries) {
				t.Errorf("wait_time bounds = %v, want latency.Boundaries", got)
			}
			if got := headers[0]["authorization"]; got != "Bearer t0ken" {
				t.Errorf("authorization header = %q, want %q", got, "Bearer t0ken")
			}
			if got := headers[0]["x-tenant"]; got != "acme" {
				t.Errorf("x-tenant header = %q, want acme", got)
			}
			if tt.wantPath != "" && headers[0][":path"] != tt.wantPath {
				t.Errorf("path = %q, want %q", headers[0][":path"], tt.wantPath)
			}
		})
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The interval comes from the lookup: with 50 ms, exports arrive before
// Shutdown (the default, 60 s, would not send any in this test's time).
func TestOTLPExportInterval(t *testing.T) {
	rcv, addr := startGRPCReceiver(t)
	p, err := New(context.Background(), env(map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr,
		"OTEL_METRIC_EXPORT_INTERVAL": "50",
	}))
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, p)
	counter, err := p.MeterProvider().Meter("test").Int64Counter("poolscope.test.interval")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 1)

	rcv.waitForMetric(t, "poolscope.test.interval", 10*time.Second)
}

// The OTLP exporter packages read OTEL_EXPORTER_OTLP_* from the process
// environment before applying options. What the lookup says must win.
func TestProcessEnvironmentDoesNotOverrideTheLookup(t *testing.T) {
	certFile := t.TempDir() + "/missing.pem"
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+refusingAddr(t))
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-process=1")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "false")
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", certFile)
	t.Setenv("OTEL_METRIC_EXPORT_TIMEOUT", "1")
	t.Setenv("OTEL_SERVICE_NAME", "from-process")

	rcv, addr := startHTTPReceiver(t)
	p, err := New(context.Background(), env(map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr,
		"OTEL_SERVICE_NAME":           "from-lookup",
	}))
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, p)
	counter, err := p.MeterProvider().Meter("test").Int64Counter("poolscope.test.lookup")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 1)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	reqs, headers := rcv.received()
	m, res := findMetric(reqs, "poolscope.test.lookup")
	if m == nil {
		t.Fatal("the receiver named by the lookup got nothing")
	}
	if res["service.name"] != "from-lookup" {
		t.Errorf("service.name = %q, want from-lookup", res["service.name"])
	}
	if _, ok := headers[0]["x-from-process"]; ok {
		t.Error("a header from the process environment was sent")
	}
}

// blackhole accepts connections and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return lis.Addr().String()
}

func TestShutdownIsBoundedWhenTheCollectorIsDown(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// Generous for -race on 2 cores, and far below the defaults (10 s per
	// OTLP request, 30 s per export, retries for a minute) that would apply
	// if the timeouts were not passed through.
	const limit = 3 * time.Second
	both := map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "300", "OTEL_METRIC_EXPORT_TIMEOUT": "300"}
	tests := []struct {
		name       string
		protocol   string
		addr       func(*testing.T) string
		vars       map[string]string
		ctxTimeout time.Duration // 0: Shutdown gets a context without deadline
	}{
		{name: "grpc, connection refused", protocol: "grpc", addr: refusingAddr, vars: both},
		{name: "http/protobuf, connection refused", protocol: "http/protobuf", addr: refusingAddr, vars: both},
		{name: "grpc, no answer", protocol: "grpc", addr: blackhole, vars: both},
		{name: "http/protobuf, no answer", protocol: "http/protobuf", addr: blackhole, vars: both},
		{
			name: "export timeout alone bounds Shutdown", protocol: "http/protobuf", addr: blackhole,
			vars: map[string]string{"OTEL_METRIC_EXPORT_TIMEOUT": "300"},
		},
		{
			name: "OTLP timeout alone bounds each export", protocol: "grpc", addr: blackhole,
			// Not twice 300 ms: after a failed flush, Shutdown does not export again.
			vars: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "300"},
		},
		{
			name: "the context's deadline bounds Shutdown", protocol: "grpc", addr: blackhole,
			ctxTimeout: timeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p, err := New(context.Background(), env(with(tt.vars,
				"OTEL_EXPORTER_OTLP_PROTOCOL", tt.protocol,
				"OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+tt.addr(t),
			)))
			if err != nil {
				t.Fatal(err)
			}
			shutdown(t, p)
			if d := time.Since(start); d > limit {
				t.Errorf("New took %v with the collector down", d)
			}
			counter, err := p.MeterProvider().Meter("test").Int64Counter("poolscope.test.down")
			if err != nil {
				t.Fatal(err)
			}
			for range 1000 {
				counter.Add(context.Background(), 1)
			}

			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start = time.Now()
			err = p.Shutdown(ctx)
			elapsed := time.Since(start)
			if err == nil {
				t.Error("Shutdown reported no error although nothing could be exported")
			}
			if elapsed > limit {
				t.Errorf("Shutdown took %v with a %v timeout", elapsed, timeout)
			}
			t.Logf("Shutdown returned after %v: %v", elapsed, err)
		})
	}
}

func TestOTLPOverTLS(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			rcv := newReceiver()
			var addr string
			if protocol == "grpc" {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&pair)))
				colmetricpb.RegisterMetricsServiceServer(srv, rcv)
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = srv.Serve(lis)
				}()
				t.Cleanup(func() { srv.Stop(); <-done })
				addr = lis.Addr().String()
			} else {
				srv := httptest.NewUnstartedServer(rcv)
				srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
				srv.StartTLS()
				t.Cleanup(srv.Close)
				addr = srv.Listener.Addr().String()
			}
			p, err := New(context.Background(), env(map[string]string{
				"OTEL_EXPORTER_OTLP_PROTOCOL":    protocol,
				"OTEL_EXPORTER_OTLP_ENDPOINT":    "https://" + addr,
				"OTEL_EXPORTER_OTLP_CERTIFICATE": certFile,
				"OTEL_METRIC_EXPORT_TIMEOUT":     "5000",
			}))
			if err != nil {
				t.Fatal(err)
			}
			shutdown(t, p)
			counter, err := p.MeterProvider().Meter("test").Int64Counter("poolscope.test.tls")
			if err != nil {
				t.Fatal(err)
			}
			counter.Add(context.Background(), 1)
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if reqs, _ := rcv.received(); len(reqs) == 0 {
				t.Fatal("the TLS receiver got nothing")
			}
		})
	}
}
