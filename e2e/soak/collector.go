package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
)

// Collector is otelcol-poolscope running collector-config/gateway.yaml on
// free loopback ports, its output appended to a file. Stop and Start may be
// called any number of times; the ports stay the same.
type Collector struct {
	// OTLPHTTP and OTLPGRPC are the receivers' host:port; Prometheus serves
	// /metrics; Health answers GET / when the collector is ready.
	OTLPHTTP, OTLPGRPC, Prometheus, Health string
	// Output is the file that collects the collector's stdout and stderr
	// (the debug exporter writes there).
	Output string

	binary, config string
	args           []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// CollectorOptions adjust the gateway configuration.
type CollectorOptions struct {
	// Dir receives the output file; it must exist.
	Dir string
	// Set are --set overrides of the configuration, for example
	// "exporters::debug::verbosity=detailed".
	Set []string
}

// StartCollector builds (or finds in the cache) the collector and starts it.
func StartCollector(opts CollectorOptions) (*Collector, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "build-collector.sh")).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("soak: scripts/build-collector.sh: %v: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("soak: scripts/build-collector.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	c := &Collector{
		binary: lines[len(lines)-1],
		config: filepath.Join(root, "collector-config", "gateway.yaml"),
		Output: filepath.Join(opts.Dir, "collector.log"),
	}
	for _, dst := range []*string{&c.OTLPHTTP, &c.OTLPGRPC, &c.Prometheus, &c.Health} {
		port, err := redisserver.FreePort()
		if err != nil {
			return nil, err
		}
		*dst = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	c.args = []string{"--config=" + c.config}
	for _, s := range opts.Set {
		c.args = append(c.args, "--set="+s)
	}
	return c, c.Start()
}

// Start starts the collector (after Stop) and waits until it is healthy.
func (c *Collector) Start() error {
	out, err := os.OpenFile(c.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(c.binary, c.args...)
	cmd.Env = append(os.Environ(),
		"POOLSCOPE_GATEWAY_OTLP_GRPC_ENDPOINT="+c.OTLPGRPC,
		"POOLSCOPE_GATEWAY_OTLP_HTTP_ENDPOINT="+c.OTLPHTTP,
		"POOLSCOPE_GATEWAY_PROMETHEUS_ENDPOINT="+c.Prometheus,
		"POOLSCOPE_GATEWAY_HEALTH_ENDPOINT="+c.Health,
	)
	cmd.Stdout, cmd.Stderr = out, out
	// A test binary that dies must not leave a collector behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("soak: start the collector: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.mu.Lock()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if c.healthy(ctx) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("soak: the collector exited at start: %s", c.tail())
		case <-ctx.Done():
			c.Stop()
			return fmt.Errorf("soak: the collector is not healthy after 30s: %s", c.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Collector) healthy(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Health+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop stops the collector with SIGTERM (SIGKILL after 10 s) and waits.
func (c *Collector) Stop() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Running reports whether the collector process is up.
func (c *Collector) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd != nil
}

// Pid is the collector's process id, 0 when stopped.
func (c *Collector) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Metrics returns the body of the collector's Prometheus endpoint.
func (c *Collector) Metrics(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Prometheus+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("soak: collector /metrics: %s", resp.Status)
	}
	return string(b), err
}

// ReadOutput returns everything the collector has written so far.
func (c *Collector) ReadOutput() (string, error) {
	b, err := os.ReadFile(c.Output)
	return string(b), err
}

func (c *Collector) tail() string {
	b, _ := os.ReadFile(c.Output)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, " | ")
}

// RepoRoot is the directory of poolscope's go.mod, found upwards from the
// working directory (a package directory in tests, the root under make).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/poolscope/poolscope\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("soak: not inside the poolscope repository (no go.mod found upwards)")
		}
		dir = parent
	}
}

// BuildPoolscope builds cmd/poolscope into dir and returns the binary's path.
func BuildPoolscope(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "poolscope")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/poolscope")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("soak: go build ./cmd/poolscope: %v\n%s", err, out)
	}
	return bin, nil
}
