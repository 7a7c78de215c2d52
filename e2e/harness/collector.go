package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// collectorReady bounds the wait for a starting collector's health check.
const collectorReady = 30 * time.Second

// collectorAttempts is how many sets of free ports StartCollector tries: a
// port taken between the probe and the collector's bind makes it exit.
const collectorAttempts = 3

// CollectorOptions say which collector StartCollector runs and how.
type CollectorOptions struct {
	// Binary is the collector (empty: CollectorBinary with the default
	// manifest, otelcol-poolscope).
	Binary string
	// Config is the configuration file (empty:
	// collector-config/gateway.yaml). It must read its endpoints from the
	// POOLSCOPE_GATEWAY_* variables, as gateway.yaml does.
	Config string
	// Dir receives collector.log, the collector's stdout and stderr across
	// restarts (the debug exporter writes there); it must exist.
	Dir string
	// Set are --set overrides of the configuration, for example
	// "exporters::debug::verbosity=detailed".
	Set []string
}

// Collector is an OpenTelemetry Collector on free loopback ports. Stop and
// Start may be called any number of times; the ports stay the same.
type Collector struct {
	// OTLPGRPC and OTLPHTTP are the receivers' host:port.
	OTLPGRPC, OTLPHTTP string
	// Metrics is the prometheus exporter's host:port (serving /metrics).
	Metrics string
	// Health is the health_check extension's host:port.
	Health string
	// Log is the file that collects the collector's output.
	Log string

	binary string
	args   []string

	mu   sync.Mutex
	proc *Process // nil while stopped
}

// StartCollector finds or builds the collector, starts it on free
// loopback ports and waits until its health check answers (on new ports,
// up to three times, when it does not).
func StartCollector(opts CollectorOptions) (*Collector, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	var lastErr error
	for range collectorAttempts {
		c, err := newCollector(opts)
		if err != nil {
			return nil, err
		}
		if lastErr = c.Start(); lastErr == nil {
			return c, nil
		}
	}
	return nil, lastErr
}

// fill sets the defaults of Binary and Config.
func (o *CollectorOptions) fill() error {
	if o.Binary != "" && o.Config != "" {
		return nil
	}
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	if o.Config == "" {
		o.Config = filepath.Join(root, "collector-config", "gateway.yaml")
	}
	if o.Binary == "" {
		o.Binary, err = CollectorBinary(root, "")
	}
	return err
}

// newCollector picks the ports; it starts nothing.
func newCollector(opts CollectorOptions) (*Collector, error) {
	addrs, err := FreeAddrs(4)
	if err != nil {
		return nil, err
	}
	c := &Collector{
		OTLPGRPC: addrs[0], OTLPHTTP: addrs[1], Metrics: addrs[2], Health: addrs[3],
		Log:    filepath.Join(opts.Dir, "collector.log"),
		binary: opts.Binary,
		args:   []string{"--config=" + opts.Config},
	}
	for _, s := range opts.Set {
		c.args = append(c.args, "--set="+s)
	}
	return c, nil
}

// Start starts the collector (first, or again after Stop) and waits until
// it is healthy; a collector that is not is stopped.
func (c *Collector) Start() error {
	cmd := exec.Command(c.binary, c.args...)
	cmd.Env = append(os.Environ(),
		"POOLSCOPE_GATEWAY_OTLP_GRPC_ENDPOINT="+c.OTLPGRPC,
		"POOLSCOPE_GATEWAY_OTLP_HTTP_ENDPOINT="+c.OTLPHTTP,
		"POOLSCOPE_GATEWAY_PROMETHEUS_ENDPOINT="+c.Metrics,
		"POOLSCOPE_GATEWAY_HEALTH_ENDPOINT="+c.Health,
	)
	p, err := Start("collector", cmd, Options{Log: c.Log})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.proc = p
	c.mu.Unlock()
	healthURL := "http://" + c.Health + "/"
	if err := p.WaitReady(context.Background(), collectorReady, func() error { return HTTPOK(healthURL) }); err != nil {
		_ = c.Stop()
		return fmt.Errorf("harness: collector: %w; %s", err, p.LogTail(15))
	}
	return nil
}

// Stop stops the collector (see Process.Stop); a no-op while stopped.
func (c *Collector) Stop() error {
	c.mu.Lock()
	p := c.proc
	c.proc = nil
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Stop()
}

// Process is the running collector process, nil while stopped.
func (c *Collector) Process() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// Pid is the collector's process id, 0 while stopped.
func (c *Collector) Pid() int {
	if p := c.Process(); p != nil {
		return p.Pid()
	}
	return 0
}

// Scrape returns the body of the collector's Prometheus endpoint.
func (c *Collector) Scrape(ctx context.Context) (string, error) {
	body, err := httpGet(ctx, "http://"+c.Metrics+"/metrics")
	if err != nil {
		return "", fmt.Errorf("harness: collector /metrics: %w", err)
	}
	return body, nil
}

// ReadOutput returns everything the collector has written so far, across
// restarts.
func (c *Collector) ReadOutput() (string, error) {
	b, err := os.ReadFile(c.Log)
	return string(b), err
}
