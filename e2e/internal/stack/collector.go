package stack

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
)

// Collector is otelcol-poolscope running collector-config/gateway.yaml.
type Collector struct {
	*Process
	// OTLPGRPC and OTLPHTTP are the receivers' host:port.
	OTLPGRPC, OTLPHTTP string
	// Metrics is the prometheus exporter's host:port (serving /metrics).
	Metrics string
	// Health is the health_check extension's host:port.
	Health string
}

// CollectorBinary builds otelcol-poolscope with scripts/build-collector.sh
// (a few minutes the first time, then cached by the manifest's hash) and
// returns its path, the script's last line on stdout. It is safe to call
// from any goroutine.
func CollectorBinary(repoRoot string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "build-collector.sh"))
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A test binary that dies must not leave the script running; a cold
	// build's builder child then finishes on its own and caches nothing
	// half-written (the script renames the binary into place).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("stack: scripts/build-collector.sh: %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	path := lines[len(lines)-1]
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("stack: scripts/build-collector.sh printed %q, which is not a file: %w", path, err)
	}
	return path, nil
}

// StartCollector runs the gateway configuration on free loopback ports and
// waits until its health check answers. A port taken between the probe and
// the collector's bind makes the collector exit; it is retried on new ports.
func StartCollector(tb testing.TB, binary, gatewayConfig string) *Collector {
	tb.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(4)
		if err != nil {
			tb.Fatal(err)
		}
		c := &Collector{
			OTLPGRPC: loopback(ports[0]),
			OTLPHTTP: loopback(ports[1]),
			Metrics:  loopback(ports[2]),
			Health:   loopback(ports[3]),
		}
		cmd := exec.Command(binary, "--config="+gatewayConfig)
		cmd.Env = append(os.Environ(),
			"POOLSCOPE_GATEWAY_OTLP_GRPC_ENDPOINT="+c.OTLPGRPC,
			"POOLSCOPE_GATEWAY_OTLP_HTTP_ENDPOINT="+c.OTLPHTTP,
			"POOLSCOPE_GATEWAY_PROMETHEUS_ENDPOINT="+c.Metrics,
			"POOLSCOPE_GATEWAY_HEALTH_ENDPOINT="+c.Health,
		)
		if c.Process, err = Start(tb, "collector", cmd); err != nil {
			tb.Fatal(err)
		}
		healthURL := "http://" + c.Health + "/"
		lastErr = c.waitReady(30*time.Second, func() error { return httpOK(healthURL) })
		if lastErr == nil {
			return c
		}
		_ = c.Stop()
		lastErr = fmt.Errorf("collector: %w; %s", lastErr, c.LogTail(15))
	}
	tb.Fatal(lastErr)
	return nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		p, err := redisserver.FreePort()
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// httpClient polls readiness endpoints. Its own transport keeps no idle
// connection, so that no keep-alive goroutine outlives a test (goleak).
var httpClient = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

func httpOK(url string) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
