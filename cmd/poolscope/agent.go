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
that follow Sentinel are skipped), or the --redis URLs when given. Each
server gets one connection named poolscope-agent, left out of every count.

Processes: --self, --pid, --pidfile, --match, and --discover (every local
process connected to one of the servers, found in /proc). Memory is read at
every pass; the selection and connection counts every --discover-every
passes. CLIENT LIST runs at every pass up to 1000 clients, every 6th pass up
to --client-list-max-clients, and is skipped (and counted) above.

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

Flags:
`

func runAgent(ctx context.Context, e env) int {
	cfg := agent.DefaultConfig()
	var problems []string
	bad := func(name, value, why string) {
		problems = append(problems, fmt.Sprintf("agent: --%s=%q: %s", name, redactArg(value), why))
	}
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
	intFlag := func(dst *int, name, value string) {
		n, err := strconv.Atoi(value)
		if err != nil {
			bad(name, value, "not a whole number")
			return
		}
		*dst = n
	}

	fs := flag.NewFlagSet("poolscope agent", flag.ContinueOnError)
	// Parse errors become one line each (below), not a message plus the
	// whole usage; flag values that do not parse are collected, not fatal,
	// so that every problem is reported at once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Func("interval", "sample every `DURATION` (default 10s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			bad("interval", v, "not a duration (for example 5s, 1m)")
			return nil
		}
		cfg.Interval = d
		return nil
	})
	fs.Func("pid", "sample process `PID` (repeatable)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			bad("pid", v, "not a process id (want a positive integer)")
			return nil
		}
		cfg.PIDs = append(cfg.PIDs, n)
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
	fs.Func("discover-every", "refresh the process selection and connection counts every `N` passes (default 6)", func(v string) error {
		intFlag(&cfg.DiscoverEvery, "discover-every", v)
		return nil
	})
	fs.BoolVar(&cfg.PSS, "pss", false, "also read each process's PSS (smaps_rollup; costs milliseconds at GiB of RSS)")
	fs.Func("redis", "watch the Redis server at `URL` (repeatable; default: the REDIS_*_URL variables)", func(v string) error {
		if !tooLong("redis", v) {
			cfg.RedisURLs = append(cfg.RedisURLs, v)
		}
		return nil
	})
	fs.Func("top-names", "per server, give the `N` client names with the most connections their own series; the rest are \"other\" (default 50)", func(v string) error {
		intFlag(&cfg.TopNames, "top-names", v)
		return nil
	})
	fs.Func("client-list-max-clients", "skip CLIENT LIST on a server with more than `N` clients; 0 turns it off (default 5000)", func(v string) error {
		intFlag(&cfg.ClientListMaxClients, "client-list-max-clients", v)
		return nil
	})
	fs.Func("client-list-every", "run CLIENT LIST every `N` passes; 0 is automatic (default 0)", func(v string) error {
		intFlag(&cfg.ClientListEvery, "client-list-every", v)
		return nil
	})
	logFormat := fs.String("log-format", "text", "log `FORMAT`: text or json")
	logLevel := fs.String("log-level", "info", "log `LEVEL`: debug, info, warn or error")

	if err := fs.Parse(e.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stderr)
			fmt.Fprint(e.stderr, agentHelp)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(e.stderr, "agent: %v (see poolscope agent --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("agent: unexpected argument %q", redactArg(fs.Arg(0))))
	}
	if cfg.ClientListEvery > 0 && cfg.ClientListMaxClients == 0 {
		bad("client-list-every", strconv.Itoa(cfg.ClientListEvery), "CLIENT LIST is off (--client-list-max-clients=0); drop one of the two")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		bad("log-level", *logLevel, "want debug, info, warn or error")
	}
	if *logFormat != "text" && *logFormat != "json" {
		bad("log-format", *logFormat, "want text or json")
	}
	opts, err := cfg.Options()
	if err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	if len(cfg.RedisURLs) == 0 && len(problems) == 0 {
		pc, err := pools.LoadConfig(e.lookup)
		if err != nil {
			problems = append(problems, strings.Split(err.Error(), "\n")...)
		}
		opts = append(opts, agent.WithPoolsConfig(pc))
	}
	if len(problems) > 0 {
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
	logger := newLogger(e.stderr, *logFormat, level)
	redislog.Route(logger)
	pipeline, code, err := newPipeline(ctx, e, "agent")
	if err != nil {
		printErrors(e.stderr, err)
		return code
	}
	mp := pipeline.MeterProvider()
	flush := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownBudget)
		defer cancel()
		if err := pipeline.Shutdown(sctx); err != nil {
			logger.Warn("agent: final export failed", "error", err)
		}
	}
	a, err := agent.Start(ctx, append(opts, agent.WithMeterProvider(mp), agent.WithLogger(logger))...)
	if err != nil {
		printErrors(e.stderr, err)
		flush()
		return exitUsage
	}
	logger.Info("agent: started", "servers", a.Servers(), "interval", cfg.Interval.String(),
		"self", cfg.Self, "discover", cfg.Discover, "pids", cfg.PIDs, "pidfile", cfg.PIDFile, "match", cfg.Match)
	<-ctx.Done()
	logger.Info("agent: stopping")
	if err := a.Close(); err != nil {
		logger.Warn("agent: close", "error", err)
	}
	flush()
	return exitOK
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
