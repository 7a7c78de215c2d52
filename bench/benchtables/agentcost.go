package benchtables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/internal/redisserver"
)

// HostmetricsManifest is the builder manifest of the comparison
// collector, relative to the repository root (for harness.CollectorBinary).
const HostmetricsManifest = "bench/benchtables/hostmetrics-manifest.yaml"

// AgentCostConfig describes an agent-cost run.
type AgentCostConfig struct {
	// Sizes are the numbers of sampled processes, one table block each.
	Sizes []int
	// Window is how long CPU time is counted at each size, after every
	// sampler has reported all processes once.
	Window time.Duration
	// Interval is both samplers' collection interval.
	Interval time.Duration
	// Poolscope is the poolscope binary (go build ./cmd/poolscope).
	Poolscope string
	// Collector is the hostmetrics collector binary
	// (POOLSCOPE_MANIFEST=bench/benchtables/hostmetrics-manifest.yaml
	// scripts/build-collector.sh).
	Collector string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Samplers, in table order.
const (
	SamplerPoolscope      = "poolscope agent"
	SamplerPoolscopeNone  = "poolscope, no exporter"
	SamplerPoolscopeUnix  = "poolscope, unix server"
	SamplerHostmetricsMem = "hostmetrics memory-only"
	SamplerHostmetrics    = "hostmetrics defaults"
)

// AgentCostRow is one sampler at one size.
type AgentCostRow struct {
	Sampler   string
	Processes int // processes started
	Seen      int // processes the sampler reported at the end of the window (-1: cannot tell)
	Window    time.Duration
	Interval  time.Duration
	CPU       float64 // utime+stime in the window, seconds
	RSS       uint64  // resident set at the end of the window, bytes
	RSSAnon   uint64  // its anonymous part (heap, stacks), bytes
	RSSFile   uint64  // its file-backed part (the executable's pages), bytes
	PeakRSS   uint64  // VmHWM, bytes
	// HostProcesses is the number of processes on the machine at the
	// start of the window: the hostmetrics scraper reads every one of
	// them at every pass before filtering by name.
	HostProcesses int
	// HostTCPSockets is the number of rows of /proc/net/tcp and tcp6 (the
	// larger at the window's start and end): poolscope's agent reads them
	// all at every discovery pass when it watches a server over TCP.
	HostTCPSockets int
}

// Passes is the number of sampling passes in the window.
func (r AgentCostRow) Passes() float64 { return r.Window.Seconds() / r.Interval.Seconds() }

// CPUShare is the sampler's CPU time over the window's wall time (1 = one
// core busy).
func (r AgentCostRow) CPUShare() float64 { return r.CPU / r.Window.Seconds() }

// MicrosPerProcessPass is the CPU time per pass per process, microseconds.
func (r AgentCostRow) MicrosPerProcessPass() float64 {
	return r.CPU * 1e6 / r.Passes() / float64(r.Processes)
}

// hostmetricsConfig is the collector configuration of a sampler: the
// process scraper only, filtered to the sleepers by name, into the debug
// exporter at verbosity basic (one log line per pass, which the table
// reads to check how many processes the pass reported). memoryOnly turns
// off every metric and resource attribute poolscope's agent does not
// produce, for a like-for-like comparison; otherwise the receiver's
// defaults apply (CPU time, memory, disk I/O; command line, owner, parent).
func hostmetricsConfig(interval time.Duration, memoryOnly bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `receivers:
  hostmetrics:
    collection_interval: %s
    scrapers:
      process:
        include:
          names: [%q]
          match_type: strict
        mute_process_all_errors: true
`, interval, SleeperName)
	if memoryOnly {
		b.WriteString(`        metrics:
          process.cpu.time: {enabled: false}
          process.disk.io: {enabled: false}
        resource_attributes:
          process.command: {enabled: false}
          process.command_line: {enabled: false}
          process.executable.path: {enabled: false}
          process.owner: {enabled: false}
          process.parent_pid: {enabled: false}
`)
	}
	b.WriteString(`exporters:
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [hostmetrics]
      exporters: [debug]
`)
	return b.String()
}

// resourceMetricsRE finds the debug exporter's count of resources (one per
// process) in a pass.
var resourceMetricsRE = regexp.MustCompile(`"resource metrics": (\d+)`)

// lastResourceCount is the number of processes in the collector's last
// reported pass.
func lastResourceCount(out string) (int, bool) {
	m := resourceMetricsRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(m[len(m)-1][1])
	return n, err == nil
}

// sampler is one running agent with a way to ask how many sleepers it
// reports.
type sampler struct {
	*harness.Process
	seen func() (int, error)
}

// AgentCost runs, at each size, poolscope's agent and two hostmetrics
// collectors on the same n sleeper processes at the same time and returns
// one row per sampler and size. The agent watches a redis-server of its
// own (it always watches at least one server; see the package README
// section for what that adds to its cost).
func AgentCost(ctx context.Context, cfg AgentCostConfig) ([]AgentCostRow, error) {
	if cfg.Poolscope == "" || cfg.Collector == "" {
		return nil, errors.New("benchtables: agent cost needs both the poolscope and the collector binaries")
	}
	if cfg.Interval <= 0 || cfg.Window < cfg.Interval {
		return nil, fmt.Errorf("benchtables: window %s and interval %s: want a positive interval and a window of at least one interval", cfg.Window, cfg.Interval)
	}
	srv, err := redisserver.Start(redisserver.Options{UnixSocket: true})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "poolscope-bench-agent-")
	if err != nil {
		return nil, fmt.Errorf("benchtables: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	configs := map[string]string{}
	for name, memOnly := range map[string]bool{SamplerHostmetricsMem: true, SamplerHostmetrics: false} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(path, []byte(hostmetricsConfig(cfg.Interval, memOnly)), 0o600); err != nil {
			return nil, fmt.Errorf("benchtables: write %s: %w", path, err)
		}
		configs[name] = path
	}

	var rows []AgentCostRow
	for _, n := range cfg.Sizes {
		r, err := agentCostAt(ctx, cfg, n, srv, configs)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func agentCostAt(ctx context.Context, cfg AgentCostConfig, n int, srv *redisserver.Server, configs map[string]string) ([]AgentCostRow, error) {
	logf(cfg.Log, "agent cost: starting %d sleepers", n)
	sl, err := startSleepers(n)
	if err != nil {
		return nil, err
	}
	defer sl.stop()

	port, err := redisserver.FreePort()
	if err != nil {
		return nil, err
	}
	samplers := make([]*sampler, 0, 5)
	defer func() {
		for _, s := range samplers {
			_ = s.Stop()
		}
	}()
	// The agent exports nothing on its own: the Prometheus exporter only
	// works when scraped, and the table scrapes it only outside the window
	// (to check that it reports every process).
	agent, err := startChild(SamplerPoolscope, cfg.Poolscope,
		[]string{"agent", "--match", "^" + regexp.QuoteMeta(SleeperName) + "$", "--interval", cfg.Interval.String(),
			"--redis", srv.URL(), "--log-level", "warn"},
		[]string{"OTEL_METRICS_EXPORTER=prometheus", "OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1",
			"OTEL_EXPORTER_PROMETHEUS_PORT=" + strconv.Itoa(port)})
	if err != nil {
		return nil, err
	}
	metricsURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	samplers = append(samplers, &sampler{Process: agent, seen: func() (int, error) {
		return scrapeProcessCount(ctx, metricsURL, SleeperName)
	}})
	// The same agent with OTEL_METRICS_EXPORTER=none: what the exporter
	// adds to its RSS. It cannot say what it sees (seen is nil).
	bare, err := startChild(SamplerPoolscopeNone, cfg.Poolscope,
		[]string{"agent", "--match", "^" + regexp.QuoteMeta(SleeperName) + "$", "--interval", cfg.Interval.String(),
			"--redis", srv.URL(), "--log-level", "warn"},
		[]string{"OTEL_METRICS_EXPORTER=none"})
	if err != nil {
		return nil, err
	}
	samplers = append(samplers, &sampler{Process: bare})
	// And the same again watching the server through its unix socket: to
	// count each process's connections, the agent reads the host's whole
	// TCP socket tables at every discovery pass for a TCP server, and only
	// the unix-socket peers (sock_diag) for a unix one. The difference
	// between the two rows is the TCP tables' cost on this host.
	unix, err := startChild(SamplerPoolscopeUnix, cfg.Poolscope,
		[]string{"agent", "--match", "^" + regexp.QuoteMeta(SleeperName) + "$", "--interval", cfg.Interval.String(),
			"--redis", "unix://" + srv.Socket, "--log-level", "warn"},
		[]string{"OTEL_METRICS_EXPORTER=none"})
	if err != nil {
		return nil, err
	}
	samplers = append(samplers, &sampler{Process: unix})
	for _, name := range []string{SamplerHostmetricsMem, SamplerHostmetrics} {
		c, err := startChild(name, cfg.Collector, []string{"--config=" + configs[name]}, nil)
		if err != nil {
			return nil, err
		}
		samplers = append(samplers, &sampler{Process: c, seen: func() (int, error) {
			out, _ := c.Output()
			if k, ok := lastResourceCount(out); ok {
				return k, nil
			}
			return 0, errNotYet
		}})
	}

	// Warm up: every sampler has reported all n processes (poolscope's
	// agent selects by name at its first pass, the collector filters at
	// every pass).
	for _, s := range samplers {
		if s.seen == nil {
			continue
		}
		err := s.WaitReady(ctx, 2*time.Minute, func() error {
			k, err := s.seen()
			if err != nil {
				return err
			}
			if k != n {
				return fmt.Errorf("%s reports %d of %d processes", s.Name, k, n)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("benchtables: %s: %w\n%s", s.Name, err, s.LogTail(10))
		}
	}

	logf(cfg.Log, "agent cost: %d processes, measuring for %s", n, cfg.Window)
	host := 0
	if fs, err := procfs.NewDefaultFS(); err == nil {
		if all, err := fs.AllProcs(); err == nil {
			host = len(all)
		}
	}
	tcpStart := tcpSockets()
	before := make([]usage, len(samplers))
	for i, s := range samplers {
		if before[i], err = readUsage(s.Pid()); err != nil {
			return nil, err
		}
	}
	if err := measurementWindow(ctx, cfg.Window); err != nil {
		return nil, err
	}
	tcpEnd := tcpSockets()
	rows := make([]AgentCostRow, len(samplers))
	for i, s := range samplers {
		after, err := readUsage(s.Pid())
		if err != nil {
			return nil, err
		}
		rows[i] = AgentCostRow{Sampler: s.Name, Processes: n, Window: cfg.Window, Interval: cfg.Interval,
			CPU: after.cpu - before[i].cpu, RSS: after.rss, RSSAnon: after.rssAnon, RSSFile: after.rssFile, PeakRSS: after.peakRSS,
			HostProcesses: host, HostTCPSockets: max(tcpStart, tcpEnd)}
	}
	for i, s := range samplers {
		if err := s.CheckRunning(); err != nil {
			return nil, err
		}
		rows[i].Seen = -1
		if s.seen == nil {
			continue
		}
		if rows[i].Seen, err = s.seen(); err != nil {
			return nil, fmt.Errorf("benchtables: %s: %w", s.Name, err)
		}
	}
	return rows, nil
}

// scrapeProcessCount counts the processes named exe in the agent's
// Prometheus output.
func scrapeProcessCount(ctx context.Context, url, exe string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Close = true // no idle connection (and goroutine) left behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	n := 0
	want := `process_executable_name="` + exe + `"`
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "process_memory_usage_bytes{") && strings.Contains(line, want) {
			n++
		}
	}
	return n, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// tcpSockets counts the rows of /proc/net/tcp and /proc/net/tcp6 (every
// socket in the network namespace, TIME_WAIT included); 0 when unreadable.
func tcpSockets() int {
	n := 0
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if rows := strings.Count(string(b), "\n") - 1; rows > 0 {
			n += rows
		}
	}
	return n
}
