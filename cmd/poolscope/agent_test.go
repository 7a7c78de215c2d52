package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

func TestAgentBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // one stderr line each, in order
	}{
		{
			name: "every problem at once",
			args: []string{"--interval", "abc", "--pid", "x", "--pid", "-4", "--top-names", "0",
				"--redis", "redis://:" + canary + "@h:0/0", "--log-level", "loud", "--log-format", "xml", "--match", "("},
			want: []string{
				`agent: --interval="abc": not a duration`,
				`agent: --pid="x": not a process id`,
				`agent: --log-level="loud": want debug, info, warn or error`,
				`agent: --log-format="xml": want text or json`,
				`agent: --pid="-4": not a process id`,
				`agent: --match="(": not a regular expression`,
				`agent: --redis="redis://***@h:0/0": port "0" out of range`,
				`agent: --top-names="0": want 1 to 1000`,
			},
		},
		{name: "unknown flag", args: []string{"--bogus"}, want: []string{"agent: flag provided but not defined: -bogus (see poolscope agent --help)"}},
		{name: "bad bool", args: []string{"--self=maybe"}, want: []string{`agent: invalid boolean value "maybe" for -self`}},
		{name: "interval too short", args: []string{"--interval", "1ms", "--redis", "redis://127.0.0.1:6379"}, want: []string{`agent: --interval="1ms": want 100ms to 1h0m0s`}},
		{name: "argument", args: []string{"now"}, want: []string{`agent: unexpected argument "now"`}},
		{name: "sentinel without master", args: []string{"--sentinel", "127.0.0.1:26379"},
			want: []string{`agent: --sentinel-master="": empty: Sentinel addresses need the master's name`}},
		{name: "sentinel not host:port", args: []string{"--sentinel", "sentinel", "--sentinel-master", "mymaster"},
			want: []string{`agent: --sentinel="sentinel": not host:port`}},
		{name: "proc-root relative", args: []string{"--proc-root", "host/proc", "--self"},
			want: []string{`agent: --proc-root="host/proc": not an absolute path`}},
		{name: "server metrics off, no process", args: []string{"--server-metrics=false", "--redis", "redis://127.0.0.1:6379"},
			want: []string{`agent: --server-metrics="false": no process is selected either, so nothing would be reported`}},
		{name: "server metrics off by the variable, no process", env: map[string]string{"POOLSCOPE_AGENT_SERVER_METRICS": "0"},
			args: []string{"--redis", "redis://127.0.0.1:6379"},
			want: []string{`agent: POOLSCOPE_AGENT_SERVER_METRICS="0": no process is selected either, so nothing would be reported`}},
		{name: "server metrics off by the flag over the variable, no process", env: map[string]string{"POOLSCOPE_AGENT_SERVER_METRICS": "true"},
			args: []string{"--server-metrics=false", "--redis", "redis://127.0.0.1:6379"},
			want: []string{`agent: --server-metrics="false": no process is selected either, so nothing would be reported`}},
		{name: "server metrics variable", env: map[string]string{"POOLSCOPE_AGENT_SERVER_METRICS": "maybe"}, args: []string{"--self"},
			want: []string{`agent: POOLSCOPE_AGENT_SERVER_METRICS="maybe": not a flag (want 1, 0, true or false)`}},
		{name: "bad environment", env: map[string]string{"REDIS_MASTER_URL": "redis://:" + canary + "@db:99999/0"},
			want: []string{`pools: REDIS_MASTER_URL="redis://***@db:99999/0": port "99999" out of range`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(t, tc.env, append([]string{"agent"}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), stderr)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want it to start with %q", i+1, lines[i], w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestAgentHelpShowsNoSecret(t *testing.T) {
	vars := map[string]string{"REDIS_MASTER_URL": "redis://app:" + canary + "@db:6379/0"}
	for _, args := range [][]string{{"agent", "--help"}, {"agent", "--redis", "redis://:" + canary + "@db:6379/0", "-h"}} {
		code, _, stderr := runWith(t, vars, args...) // runWith fails on the canary
		if code != exitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{"Usage: poolscope agent", "Examples:", "-redis URL", "-discover", "-client-list-max-clients N", "(default 10s)"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, stderr)
			}
		}
	}
}

// lockedBuffer is stderr for a run that logs from several goroutines.
type lockedBuffer = redistest.Buffer

// startAgentCmd runs `poolscope agent` in-process until the returned stop is
// called; stop cancels the context (what SIGTERM does through main's
// NotifyContext) and returns the exit code and how long the exit took.
func startAgentCmd(t *testing.T, s *redisserver.Server, vars map[string]string, args ...string) (stop func() (int, time.Duration), stderr *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, env{
			args:   append([]string{"agent"}, args...),
			stdout: &lockedBuffer{},
			stderr: stderr,
			lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		})
	}()
	// Running means connected: the server sees the agent's named connection.
	redistest.Eventually(t, 20*time.Second, func() error {
		select {
		case code := <-done:
			t.Fatalf("agent exited early with %d:\n%s", code, stderr.String())
		default:
		}
		counts, err := s.ClientsByName(ctx)
		if err != nil {
			return err
		}
		if counts["poolscope-agent"] != 1 {
			return fmt.Errorf("server clients %v, want one poolscope-agent", counts)
		}
		return nil
	})
	return func() (int, time.Duration) {
		start := time.Now()
		cancel()
		select {
		case code := <-done:
			return code, time.Since(start)
		case <-time.After(10 * time.Second):
			t.Fatalf("agent still running 10s after the signal:\n%s", stderr.String())
			return 0, 0
		}
	}, stderr
}

func TestAgentStopsCleanlyOnSignal(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{Password: canary})
	_ = s.Admin() // the harness's client exists before the goroutine snapshot
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	stop, stderr := startAgentCmd(t, s, map[string]string{"OTEL_METRICS_EXPORTER": "none", "REDIS_MASTER_URL": s.URL(), "REDIS_LOCAL_URL": s.URL()},
		"--self", "--discover", "--interval", "100ms", "--log-format", "json")
	code, took := stop()
	if code != exitOK || took > 5*time.Second {
		t.Fatalf("exit %d after %s, want 0 within 5s:\n%s", code, took, stderr.String())
	}
	out := stderr.String()
	if strings.Contains(out, canary) {
		t.Fatalf("the log shows the password:\n%s", out)
	}
	for _, want := range []string{`"msg":"agent: started"`, `"servers":["redis://***@` + s.Addr() + `/0"]`, `"msg":"agent: stopping"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// With the collector down, the final flush gives up within the budget.
func TestAgentExitsInTimeWithCollectorDown(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	port := redistest.RefusedPort(t)
	// The OTLP exporter reads the process environment.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:"+strconv.Itoa(port))
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
	stop, stderr := startAgentCmd(t, s, nil, "--redis", s.URL(), "--self", "--interval", "100ms")
	code, took := stop()
	if code != exitOK || took > 5*time.Second {
		t.Fatalf("exit %d after %s, want 0 within 5s:\n%s", code, took, stderr.String())
	}
	if !strings.Contains(stderr.String(), "final export failed") {
		t.Errorf("the failed flush was not logged:\n%s", stderr.String())
	}
}

// --server-metrics defaults to true; POOLSCOPE_AGENT_SERVER_METRICS sets it
// when the flag is not given; the flag wins over the variable.
func TestAgentServerMetricsFlagAndVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want bool
	}{
		{"default", nil, nil, true},
		{"flag", nil, []string{"--server-metrics=false"}, false},
		{"variable", map[string]string{serverMetricsEnv: "false"}, nil, false},
		{"variable 0", map[string]string{serverMetricsEnv: "0"}, nil, false},
		{"variable true", map[string]string{serverMetricsEnv: "true"}, nil, true},
		{"flag wins", map[string]string{serverMetricsEnv: "false"}, []string{"--server-metrics=true"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env{args: append([]string{"--discover"}, tc.args...),
				lookup: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			f, problems, _, ok := parseAgentFlags(e)
			if !ok || len(problems) > 0 {
				t.Fatalf("parse: ok %v, problems %v", ok, problems)
			}
			if f.cfg.ServerMetrics != tc.want {
				t.Fatalf("ServerMetrics = %v, want %v", f.cfg.ServerMetrics, tc.want)
			}
		})
	}
}
