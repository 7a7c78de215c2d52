package agent

import (
	"crypto/tls"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/procfs"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/pools"
)

// Defaults. The reasoning behind each number is in the package
// documentation.
const (
	DefaultInterval             = 10 * time.Second
	DefaultDiscoverEvery        = 6
	DefaultTopNames             = 50
	DefaultClientListMaxClients = 5000
	DefaultMaxBackoff           = time.Minute

	// With ClientListEvery 0 (automatic), CLIENT LIST runs at every pass up
	// to clientListBusyClients clients and at every clientListBusyEvery-th
	// pass above: its reply is about 300 bytes a client, built on the
	// server's single thread.
	clientListBusyClients = 1000
	clientListBusyEvery   = 6
)

// ClientName is the name (CLIENT SETNAME) of the agent's own connection to
// each server. The agent leaves that one connection out of every count.
const ClientName = "poolscope-agent"

// Option configures Start.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	meterProvider metric.MeterProvider
	logger        *slog.Logger
	interval      time.Duration
	maxBackoff    time.Duration

	pids          []int
	pidFile       string
	match         *regexp.Regexp
	self          bool
	discover      bool
	discoverEvery int
	pss           bool
	procRoot      string

	redisURLs            []string
	sentinels            []sentinelWatch
	tlsConfig            *tls.Config
	poolsConfig          *pools.Config
	topNames             int
	clientListMaxClients int
	clientListEvery      int
	// serverMetrics off: servers are only attributed to (discovery's
	// connection counts) and asked for their cluster's topology, never
	// sampled (WithServerMetrics).
	serverMetrics bool

	// passHook, set by tests only, is told when a pass starts, with the
	// pass's source, and the function it returns when the pass ends: a
	// topology discovery pass (a cluster node's, a Sentinel watch's) has
	// the server's or the watch's display name, a server's sampling pass
	// samplingSource of the server's. Tests count passes with it instead
	// of timing them.
	passHook func(source string) (done func())
}

// newConfig applies the defaults, then the options, then replaces values
// that make no sense with the defaults (as the OpenTelemetry contrib
// instrumentations do); Config.Validate is where a user's bad values are
// reported.
func newConfig(opts []Option) *config {
	c := &config{
		interval:             DefaultInterval,
		maxBackoff:           DefaultMaxBackoff,
		discoverEvery:        DefaultDiscoverEvery,
		topNames:             DefaultTopNames,
		clientListMaxClients: DefaultClientListMaxClients,
		serverMetrics:        true,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.procRoot == "" {
		c.procRoot = procfs.DefaultMountPoint
	}
	if c.interval <= 0 {
		c.interval = DefaultInterval
	}
	if c.maxBackoff < c.interval {
		c.maxBackoff = c.interval
	}
	if c.discoverEvery < 1 {
		c.discoverEvery = DefaultDiscoverEvery
	}
	if c.topNames < 1 {
		c.topNames = DefaultTopNames
	}
	if c.clientListMaxClients < 0 {
		c.clientListMaxClients = DefaultClientListMaxClients
	}
	if c.clientListEvery < 0 {
		c.clientListEvery = 0
	}
	return c
}

// processSelector is an option that selects processes, with how Start's
// options (config) and a Config say it is given.
type processSelector struct {
	option  string
	inOpts  func(*config) bool
	inField func(Config) bool
}

// processSelectors is the one list of the options that select processes:
// samplesProcesses, Config.Validate and Start's errors all read it.
var processSelectors = []processSelector{
	{"WithSelf", func(c *config) bool { return c.self }, func(c Config) bool { return c.Self }},
	{"WithPIDs", func(c *config) bool { return len(c.pids) > 0 }, func(c Config) bool { return len(c.PIDs) > 0 }},
	{"WithPIDFile", func(c *config) bool { return c.pidFile != "" }, func(c Config) bool { return c.PIDFile != "" }},
	{"WithMatch", func(c *config) bool { return c.match != nil }, func(c Config) bool { return c.Match != "" }},
	{"WithDiscover", func(c *config) bool { return c.discover }, func(c Config) bool { return c.Discover }},
}

// processSelectorNames lists the selecting options for messages:
// "WithSelf, WithPIDs, ...".
func processSelectorNames() string {
	names := make([]string, len(processSelectors))
	for i, s := range processSelectors {
		names[i] = s.option
	}
	return strings.Join(names, ", ")
}

// samplesProcesses reports whether any process is selected.
func (c *config) samplesProcesses() bool {
	return slices.ContainsFunc(processSelectors, func(s processSelector) bool { return s.inOpts(c) })
}

// WithMeterProvider sets the MeterProvider the metrics are created from
// (default: the global one, otel.GetMeterProvider()).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithLogger sets the logger for target problems, each logged once per
// target and cause (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithInterval sets the sampling interval (default 10s).
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.interval = d })
}

// WithMaxBackoff caps the wait between attempts to reach a server that is
// down (default 1m). The wait starts at the interval and doubles.
func WithMaxBackoff(d time.Duration) Option {
	return optionFunc(func(c *config) { c.maxBackoff = d })
}

// WithPIDs samples the given processes.
func WithPIDs(pids ...int) Option {
	return optionFunc(func(c *config) { c.pids = append(c.pids, pids...) })
}

// WithPIDFile samples the process whose id is in the file. The file is
// read again at every discovery pass, so a restarted process is followed.
func WithPIDFile(path string) Option {
	return optionFunc(func(c *config) { c.pidFile = path })
}

// WithMatch samples the processes whose command name (/proc/PID/comm) or
// command line (arguments joined by spaces) match re.
func WithMatch(re *regexp.Regexp) Option {
	return optionFunc(func(c *config) { c.match = re })
}

// WithSelf samples the process that calls Start: the embedded use.
func WithSelf() Option {
	return optionFunc(func(c *config) { c.self = true })
}

// WithDiscover samples every local process that holds a TCP or unix-socket
// connection to one of the servers (found in /proc).
func WithDiscover() Option {
	return optionFunc(func(c *config) { c.discover = true })
}

// WithDiscoverEvery sets how often the process selection and the
// connection counts are refreshed: every n-th pass (default 6, once a
// minute at the default interval). Memory is read at every pass.
func WithDiscoverEvery(n int) Option {
	return optionFunc(func(c *config) { c.discoverEvery = n })
}

// WithPSS also reads each process's proportional set size from
// /proc/PID/smaps_rollup at every pass. It costs about 0.1 ms for a small
// process and several milliseconds at gigabytes of RSS.
func WithPSS() Option {
	return optionFunc(func(c *config) { c.pss = true })
}

// WithProcRoot reads processes from the proc file system mounted at dir
// (default /proc), as node_exporter's --path.procfs: an agent in a
// container that sees the host's /proc mounted elsewhere (hostPID is the
// other way) gives its mount point. Process ids are those of the mount's
// PID namespace; WithSelf finds the agent through the mount's "self".
func WithProcRoot(dir string) Option {
	return optionFunc(func(c *config) { c.procRoot = dir })
}

// WithRedis adds servers by URL: redis://[user:password@]host:port/db,
// rediss://... (TLS) or unix:///path/to/socket. Servers given twice (same
// address) are watched once.
func WithRedis(urls ...string) Option {
	return optionFunc(func(c *config) { c.redisURLs = append(c.redisURLs, urls...) })
}

// WithTLSConfig sets the TLS settings for rediss:// servers (default: the
// system roots; the server name comes from each URL).
func WithTLSConfig(t *tls.Config) Option {
	return optionFunc(func(c *config) { c.tlsConfig = t })
}

// WithPoolsConfig adds the servers of a pools configuration (the distinct
// addresses of all four roles, enabled or not) and uses its TLS settings.
// When its roles follow Sentinel (REDIS_SENTINEL_*), the master and
// replicas the Sentinels name are watched instead, reached with
// REDIS_MASTER_URL's credentials, and followed through failovers.
func WithPoolsConfig(pc pools.Config) Option {
	return optionFunc(func(c *config) { c.poolsConfig = &pc })
}

// WithTopNames sets how many client names get their own series per server
// (default 50); the connections of every other name are counted under
// "other".
func WithTopNames(n int) Option {
	return optionFunc(func(c *config) { c.topNames = n })
}

// WithClientListMaxClients skips CLIENT LIST on a server with more clients
// than n (INFO connected_clients), counting the skip in
// poolscope.agent.client_list.skipped (default 5000). 0 turns CLIENT LIST
// off.
func WithClientListMaxClients(n int) Option {
	return optionFunc(func(c *config) { c.clientListMaxClients = n })
}

// WithClientListEvery runs CLIENT LIST at every n-th pass. The default, 0,
// is automatic: every pass up to 1000 clients, every 6th pass above.
func WithClientListEvery(n int) Option {
	return optionFunc(func(c *config) { c.clientListEvery = n })
}

// WithServerMetrics(false) keeps the servers for attribution only: the
// processes' connection counts per server (discovery matches sockets by
// the server's address, so it needs no credentials), without sampling the
// servers: no INFO, no CLIENT LIST, none of the server metrics
// (redis.clients.*, redis.connections.*, redis.cpu.time,
// poolscope.server.*, poolscope.redis.up, poolscope.agent.client_list.*). Topology is still
// followed: a configured server is asked once whether it is a Redis
// Cluster node (CLUSTER SHARDS; a refusal, "cluster support disabled" or
// an authentication error, ends the asking and its connection), and a
// cluster's nodes are asked for the topology at every discovery pass on
// the agent's one connection each; servers found through Sentinel are not
// contacted at all (the Sentinels are). Meant for the agents of a
// DaemonSet, which would otherwise each report the same servers' series
// and each run INFO and CLIENT LIST against them; one agent elsewhere
// samples the servers. Default true: servers are sampled.
func WithServerMetrics(on bool) Option {
	return optionFunc(func(c *config) { c.serverMetrics = on })
}
