package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/poolscope/poolscope/agent"
	"github.com/poolscope/poolscope/internal/envvar"
	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/pools"
)

func init() {
	register("agent", command{
		summary: "sample process memory, Redis connections and server clients; export them over OTLP",
		run:     runAgent,
	})
}

// maxFlagValue bounds the string flags (--redis, --pidfile, --match): a
// path, pattern or URL longer than this is a mistake (PATH_MAX is 4096).
const maxFlagValue = 4096

// shutdownBudget bounds the final flush after SIGINT/SIGTERM, so that the
// agent exits within 5 seconds even when the collector is unreachable.
const shutdownBudget = 4 * time.Second

// agentGCPercent is the agent's GOGC unless the environment sets one.
const agentGCPercent = 50

const agentHelp = `Usage: poolscope agent [flags]

Samples processes and Redis servers every --interval and exports the metrics
through the standard OpenTelemetry variables: OTEL_METRICS_EXPORTER (otlp,
prometheus, console, none; default otlp), OTEL_EXPORTER_OTLP_ENDPOINT and
OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf to localhost:4318 by default, or
grpc), OTEL_METRIC_EXPORT_INTERVAL, OTEL_SERVICE_NAME (poolscope-agent). The servers are the
REDIS_*_URL variables that applications read (each address once; pools
that follow Sentinel: the master and replicas their REDIS_SENTINEL_*
variables name), or the --redis URLs (and --sentinel) when given. A Redis
Cluster node finds the whole cluster. Each
server gets one connection named poolscope-agent, left out of every count.

Processes: --self, --pid, --pidfile, --match, and --discover (every local
process connected to one of the servers, found in /proc). Memory is read at
every pass; the selection and connection counts every --discover-every
passes. CLIENT LIST runs at every pass up to 1000 clients, every 6th pass up
to --client-list-max-clients, and is skipped (and counted) above.

--server-metrics=false (or POOLSCOPE_AGENT_SERVER_METRICS=false) keeps the
servers for attribution only: the processes' connection counts per server,
no INFO, no CLIENT LIST, no server series, no password needed for a
standalone server. A cluster seed is still asked for its nodes (its URL
needs the credentials for that); servers found through Sentinel are not
contacted. For a DaemonSet: one agent elsewhere samples the servers.

Runs Go's garbage collector at GOGC=50 unless GOGC is set (a smaller RSS
for a small heap). Stops on SIGINT or SIGTERM, flushing within 5 seconds. Exit status: 0 after a
signal, 1 when the exporter cannot be set up, 2 for bad flags or
configuration (one line per problem on stderr).

Examples:
  # every process connected to the servers of the application's environment
  REDIS_MASTER_URL=redis://10.0.0.5:6379/0 poolscope agent --discover
  # one process and its PSS, one server, every 5 seconds, JSON logs
  poolscope agent --pidfile /run/app.pid --pss --redis unix:///run/redis.sock --interval 5s --log-format json
  # processes by name, two servers
  poolscope agent --match '^(php-fpm|gunicorn)' --redis redis://10.0.0.5:6379 --redis redis://10.0.0.6:6379
  # on every node: the processes' connections, not the servers' own series
  poolscope agent --discover --server-metrics=false --redis redis://10.0.0.5:6379

Flags:
`

// agentFlags is what the agent command's flags say.
type agentFlags struct {
	cfg       agent.Config
	logFormat string
	level     slog.Level
	// fromEnv holds the agent.Config fields that a variable set rather
	// than a flag, so that a problem with one names what the user set.
	fromEnv map[string]envSetting
}

// envSetting is a variable and its value as the user typed it.
type envSetting struct{ name, value string }

// agentFlagNames maps the agent.Config fields that agent.FieldError names
// to the flags that set them: the library speaks of its own fields, the
// command of its flags.
var agentFlagNames = map[string]string{
	"Interval": "interval", "PIDs": "pid", "PIDFile": "pidfile", "Match": "match", "Self": "self",
	"Discover": "discover", "DiscoverEvery": "discover-every", "PSS": "pss", "ProcRoot": "proc-root", "RedisURLs": "redis", "Sentinels": "sentinel", "SentinelMaster": "sentinel-master",
	"TopNames": "top-names", "ClientListMaxClients": "client-list-max-clients", "ClientListEvery": "client-list-every",
	"ServerMetrics": "server-metrics",
}

// runAgent parses the flags, builds the agent's options (from the flags,
// or the REDIS_* variables when no --redis is given), then runs the agent
// until ctx ends.
func runAgent(ctx context.Context, e env) int {
	f, problems, code, ok := parseAgentFlags(e)
	if !ok {
		return code
	}
	opts, pc, more := agentOptions(e, f, len(problems) == 0)
	if problems = append(problems, more...); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(e.stderr, p)
		}
		return exitUsage
	}
	// The agent's heap is a few MiB; collecting at 50 % growth instead of
	// Go's default 100 % keeps its RSS about 1.5 MiB lower at no measurable
	// CPU cost (BENCHMARKS.md). GOGC, when set, wins.
	if _, set := e.lookup("GOGC"); !set {
		debug.SetGCPercent(agentGCPercent)
	}
	logger := newLogger(e.stderr, f.logFormat, f.level)
	redislog.Route(logger)
	if pc != nil {
		logNearMisses(logger, e)
	}
	return serveAgent(ctx, e, f.cfg, opts, logger)
}

// parseAgentFlags reads the flags into an agent.Config. Values that do not
// parse are collected as problems, not fatal, so that every problem is
// reported at once; ok is false (with the exit status in code) for --help
// and for a command line the flag package refuses.
func parseAgentFlags(e env) (f agentFlags, problems []string, code int, ok bool) {
	f.cfg = agent.DefaultConfig()
	bad := func(name, value, why string) {
		problems = append(problems, fmt.Sprintf("agent: --%s=%q: %s", name, redactArg(value), why))
	}
	fs := agentFlagSet(&f.cfg, bad)
	logFormat := fs.String("log-format", "text", "log `FORMAT`: text or json")
	logLevel := fs.String("log-level", "info", "log `LEVEL`: debug, info, warn or error")
	if err := fs.Parse(e.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stderr)
			fmt.Fprint(e.stderr, agentHelp)
			fs.PrintDefaults()
			return f, nil, exitOK, false
		}
		fmt.Fprintf(e.stderr, "agent: %v (see poolscope agent --help)\n", err)
		return f, nil, exitUsage, false
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("agent: unexpected argument %q", redactArg(fs.Arg(0))))
	}
	problems = append(problems, serverMetricsFromEnv(e, fs, &f)...)
	if f.cfg.ClientListEvery > 0 && f.cfg.ClientListMaxClients == 0 {
		bad("client-list-every", strconv.Itoa(f.cfg.ClientListEvery), "CLIENT LIST is off (--client-list-max-clients=0); drop one of the two")
	}
	if err := f.level.UnmarshalText([]byte(*logLevel)); err != nil {
		bad("log-level", *logLevel, "want debug, info, warn or error")
	}
	if f.logFormat = *logFormat; f.logFormat != "text" && f.logFormat != "json" {
		bad("log-format", f.logFormat, "want text or json")
	}
	return f, problems, exitOK, true
}

// serverMetricsEnv sets --server-metrics when the flag is not given: the
// DaemonSet's and Helm-style deployments' way to turn server sampling off
// without changing the command line.
const serverMetricsEnv = "POOLSCOPE_AGENT_SERVER_METRICS"

// serverMetricsFromEnv reads serverMetricsEnv into f.cfg unless the
// command line gave --server-metrics (the flag wins), and records in
// f.fromEnv that the variable set it.
func serverMetricsFromEnv(e env, fs *flag.FlagSet, f *agentFlags) []string {
	given := false
	fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == "server-metrics" })
	if given {
		return nil
	}
	r := envvar.New("agent", e.lookup)
	if name := r.Flag(&f.cfg.ServerMetrics, serverMetricsEnv); name != "" {
		value, _ := r.Lookup(name)
		f.fromEnv = map[string]envSetting{"ServerMetrics": {name, value}}
	}
	if err := r.Err(); err != nil {
		return []string{err.Error()}
	}
	return nil
}

// agentFlagSet defines the flags that fill cfg. Parse errors become one
// line each, not a message plus the whole usage.
func agentFlagSet(cfg *agent.Config, bad func(name, value, why string)) *flag.FlagSet {
	fs := flag.NewFlagSet("poolscope agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// tooLong rejects a value no file name, pattern or URL needs, before
	// anything tries to use it (a 64 KiB "host name" would otherwise be
	// dialled and logged at every retry).
	tooLong := func(name, value string) bool {
		if len(value) > maxFlagValue {
			bad(name, value, fmt.Sprintf("longer than %d bytes", maxFlagValue))
			return true
		}
		return false
	}
	intFlag := func(dst *int, name, usage string) {
		fs.Func(name, usage, func(v string) error {
			if n, err := strconv.Atoi(v); err != nil {
				bad(name, v, "not a whole number")
			} else {
				*dst = n
			}
			return nil
		})
	}
	fs.Func("interval", "sample every `DURATION` (default 10s)", func(v string) error {
		if d, err := time.ParseDuration(v); err != nil {
			bad("interval", v, "not a duration (for example 5s, 1m)")
		} else {
			cfg.Interval = d
		}
		return nil
	})
	fs.Func("pid", "sample process `PID` (repeatable)", func(v string) error {
		if n, err := strconv.Atoi(v); err != nil {
			bad("pid", v, "not a process id (want a positive integer)")
		} else {
			cfg.PIDs = append(cfg.PIDs, n)
		}
		return nil
	})
	fs.Func("pidfile", "sample the process whose id is in `FILE` (read again at every discovery pass)", func(v string) error {
		switch {
		case v == "":
			bad("pidfile", v, "empty (want the path of a file holding a process id)")
		case !tooLong("pidfile", v):
			cfg.PIDFile = v
		}
		return nil
	})
	fs.Func("match", "sample the processes whose command name or command line match `REGEX`", func(v string) error {
		switch {
		case v == "":
			bad("match", v, "empty (want a regular expression; an empty one would select every process)")
		case !tooLong("match", v):
			cfg.Match = v
		}
		return nil
	})
	fs.BoolVar(&cfg.Self, "self", false, "sample the agent's own process")
	fs.BoolVar(&cfg.Discover, "discover", false, "sample every local process connected to one of the servers")
	intFlag(&cfg.DiscoverEvery, "discover-every", "refresh the process selection and connection counts every `N` passes (default 6)")
	fs.BoolVar(&cfg.PSS, "pss", false, "also read each process's PSS (smaps_rollup; costs milliseconds at GiB of RSS)")
	fs.Func("proc-root", "read processes from the proc file system mounted at `DIR` (default /proc; the host's /proc mounted in a container)", func(v string) error {
		switch {
		case v == "":
			bad("proc-root", v, "empty (want the directory where the proc file system is mounted)")
		case !tooLong("proc-root", v):
			cfg.ProcRoot = v
		}
		return nil
	})
	fs.Func("redis", "watch the Redis server at `URL` (repeatable; default: the REDIS_*_URL variables)", func(v string) error {
		if !tooLong("redis", v) {
			cfg.RedisURLs = append(cfg.RedisURLs, v)
		}
		return nil
	})
	fs.Func("sentinel", "follow the master named by --sentinel-master through the Sentinel at `HOST:PORT` (repeatable; no password)", func(v string) error {
		if !tooLong("sentinel", v) {
			cfg.Sentinels = append(cfg.Sentinels, v)
		}
		return nil
	})
	fs.Func("sentinel-master", "the `NAME` the Sentinels know the master by", func(v string) error {
		if !tooLong("sentinel-master", v) {
			cfg.SentinelMaster = v
		}
		return nil
	})
	intFlag(&cfg.TopNames, "top-names", "per server, give the `N` client names with the most connections their own series; the rest are \"other\" (default 50)")
	intFlag(&cfg.ClientListMaxClients, "client-list-max-clients", "skip CLIENT LIST on a server with more than `N` clients; 0 turns it off (default 5000)")
	intFlag(&cfg.ClientListEvery, "client-list-every", "run CLIENT LIST every `N` passes; 0 is automatic (default 0)")
	fs.BoolVar(&cfg.ServerMetrics, "server-metrics", true, "sample the servers (INFO, CLIENT LIST) and report their metrics; false: only count the processes' connections to them, asking a cluster seed for its nodes (env "+serverMetricsEnv+")")
	return fs
}

// agentOptions validates f.cfg (its problems named by flag, or by the
// variable that set the field) and, when no --redis is given and the flags
// are fine (withPools), adds the servers of the REDIS_* variables. pc is
// that pools configuration, nil without it.
func agentOptions(e env, f agentFlags, withPools bool) (opts []agent.Option, pc *pools.Config, problems []string) {
	opts, err := f.cfg.Options()
	if err != nil {
		problems = append(problems, flagProblems(err, f.fromEnv)...)
	}
	if len(f.cfg.RedisURLs) > 0 || len(f.cfg.Sentinels) > 0 || !withPools || len(problems) > 0 {
		return opts, nil, problems
	}
	c, err := pools.LoadConfig(e.lookup)
	if err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	return append(opts, agent.WithPoolsConfig(c)), &c, problems
}

// flagProblems turns agent.Config's field errors into lines naming the
// flags, or the variable and its value for a field fromEnv says a variable
// set.
func flagProblems(err error, fromEnv map[string]envSetting) []string {
	var lines []string
	for _, e := range unjoin(err) {
		var fe *agent.FieldError
		if !errors.As(e, &fe) {
			lines = append(lines, e.Error())
			continue
		}
		if v, ok := fromEnv[fe.Field]; ok {
			lines = append(lines, (&envvar.Error{Pkg: "agent", Name: v.name, Value: v.value, Problem: fe.Problem}).Error())
			continue
		}
		lines = append(lines, fmt.Sprintf("agent: --%s=%q: %s", agentFlagNames[fe.Field], redactArg(fe.Value), fe.Problem))
	}
	return lines
}

// unjoin lists the errors of an errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// serveAgent builds the metric pipeline, starts the agent and runs it until
// ctx ends, then flushes within shutdownBudget.
func serveAgent(ctx context.Context, e env, cfg agent.Config, opts []agent.Option, logger *slog.Logger) int {
	pipeline, code, err := newPipeline(ctx, e, "agent")
	if err != nil {
		printErrors(e.stderr, err)
		return code
	}
	flush := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownBudget)
		defer cancel()
		if err := pipeline.Shutdown(sctx); err != nil {
			logger.Warn("agent: final export failed", "error", err)
		}
	}
	a, err := agent.Start(ctx, append(opts, agent.WithMeterProvider(pipeline.MeterProvider()), agent.WithLogger(logger))...)
	if err != nil {
		printErrors(e.stderr, err)
		flush()
		return exitUsage
	}
	logger.Info("agent: started", "servers", a.Servers(), "interval", cfg.Interval.String(),
		"server_metrics", cfg.ServerMetrics, "self", cfg.Self, "discover", cfg.Discover, "pids", cfg.PIDs, "pidfile", cfg.PIDFile, "match", cfg.Match)
	<-ctx.Done()
	logger.Info("agent: stopping")
	if err := a.Close(); err != nil {
		logger.Warn("agent: close", "error", err)
	}
	flush()
	return exitOK
}

// logNearMisses warns about each misspelt REDIS_* variable, as the pools of
// an application would at start-up.
func logNearMisses(logger *slog.Logger, e env) {
	for _, m := range e.nearMisses() {
		logger.Warn("pools: "+m.String()+" Its value is ignored.", "variable", m.Name, "closest", m.Closest)
	}
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
