package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/internal/redistest"
)

// The demo end to end: its own redis-server, two real worker processes,
// the embedded agent discovering them, the merged /metrics endpoint and the
// live table; then everything it started is gone.
func TestDemo(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv(asMainEnv, "1") // the workers are this test binary
	var stdout, stderr redistest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, env{args: []string{"demo", "--duration", "0", "--listen", "127.0.0.1:0", "--components", "3"},
			stdout: &stdout, stderr: &stderr, lookup: func(string) (string, bool) { return "", false }})
	}()

	var metricsURL string
	urlRe := regexp.MustCompile(`metrics on (http://\S+/metrics)`)
	redistest.Eventually(t, 30*time.Second, func() error {
		m := urlRe.FindStringSubmatch(stdout.String())
		if m == nil {
			return fmt.Errorf("no metrics endpoint announced; stderr:\n%s", stderr.String())
		}
		metricsURL = m[1]
		return nil
	})

	// A table where every part has arrived: both workers' pools, both
	// processes found by discovery, the server's clients by name.
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+demo-pooled\s+master\s+\d+\s+\d+\s+\d+\s`),
		regexp.MustCompile(`(?m)^\s+demo-unpooled\s+replica\s+\d+`),
		regexp.MustCompile(`(?m)^\s+demo-pooled\s+\d+\s+\d+\.\d MiB\s+\d+\.\d MiB\s+[1-9]\d*\s*$`),
		regexp.MustCompile(`(?m)^\s+demo-unpooled\s+\d+\s+\d+\.\d MiB\s+\d+\.\d MiB\s+[1-9]\d*\s*$`),
		regexp.MustCompile(`(?m)^server \S+: \d+ clients`),
		regexp.MustCompile(`(?m)^\s+demo-pooled:master:\d+\s+\d+$`),
		regexp.MustCompile(`(?m)^\s+demo-unpooled:async:\d+\s+\d+$`),
	}
	redistest.Eventually(t, 60*time.Second, func() error {
		out := stdout.String()
		last := out[max(0, strings.LastIndex(out, "── ")):]
		for _, re := range want {
			if !re.MatchString(last) {
				return fmt.Errorf("the last table lacks %s:\n%s\nstderr:\n%s", re, last, stderr.String())
			}
		}
		return nil
	})

	// The endpoint serves both workers' pools and the agent's figures,
	// labelled by job as a collector would. Polled: it serves the latest
	// of the hub's scrapes, one a second, and on a loaded machine one of
	// them may miss a process that the table's snapshot had (a scrape
	// that outlasts the hub's 900 ms timeout leaves that process out).
	redistest.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, s := range []string{`db_client_connection_count{`, `job="demo-pooled"`, `job="demo-unpooled"`,
			`process_memory_usage_bytes{`, `job="poolscope-agent"`, `poolscope_server_connections{`} {
			if !bytes.Contains(body, []byte(s)) {
				return fmt.Errorf("/metrics lacks %s", s)
			}
		}
		return nil
	})

	serverPid := regexp.MustCompile(`redis-server \S+ \(pid (\d+)\)`).FindStringSubmatch(stdout.String())
	pids := regexp.MustCompile(`(?m)^\s+demo-(?:un)?pooled\s+(\d+)\s+\d`).FindAllStringSubmatch(stdout.String(), -1)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the demo did not stop within 15s of Ctrl-C")
	}
	if serverPid == nil {
		t.Fatalf("no redis-server pid in the header:\n%s", stdout.String())
	}
	for _, m := range append(pids, serverPid) {
		pid, _ := strconv.Atoi(m[1])
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d still runs after the demo stopped", pid)
		}
	}
	if _, err := http.Get(metricsURL); err == nil {
		t.Errorf("%s still answers after the demo stopped", metricsURL)
	}
}
