package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestServiceEndToEnd runs the example as a user would deploy it, against a
// real redis-server: requests go through the pools, the pools' metrics come
// out of the Prometheus endpoint under the service's name, the server sees
// the same service name in CLIENT LIST, and a cancelled context shuts
// everything down cleanly.
func TestServiceEndToEnd(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	promPort, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"REDIS_MASTER_URL":              s.URL(),
		"REDIS_LOCAL_URL":               s.URL(),
		"OTEL_SERVICE_NAME":             "userapp",
		"OTEL_METRICS_EXPORTER":         "prometheus",
		"OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
		"OTEL_EXPORTER_PROMETHEUS_PORT": strconv.Itoa(promPort),
	} {
		t.Setenv(k, v)
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, listen) }()

	base := "http://" + listen
	redistest.Eventually(t, 15*time.Second, func() error {
		return expect(base+"/set?key=k&value=v", "OK")
	})
	if err := expect(base+"/get?key=k", "v"); err != nil {
		t.Error(err)
	}
	redistest.Eventually(t, 10*time.Second, func() error {
		u := fmt.Sprintf("http://127.0.0.1:%d/metrics", promPort)
		if err := expect(u, `db_client_connection_count{`); err != nil {
			return err
		}
		// A duration histogram, exported through the producer.
		return expect(u, `db_client_operation_duration_seconds_bucket{`)
	})
	names, err := s.ClientsByName(redistest.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for name := range names {
		found = found || strings.HasPrefix(name, "userapp:master:")
	}
	if !found {
		t.Errorf("CLIENT LIST names %v: none is userapp:master:PID", names)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run still running 15s after its context ended")
	}
}

// expect GETs u and checks that the body contains want.
func expect(u, want string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s %q, want 200 with %q", u, resp.Status, body, want)
	}
	return nil
}
