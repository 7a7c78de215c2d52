package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// poolscopeBinary builds cmd/poolscope into a directory of the test's that
// every user may read, so that a test can also run it as another user. The
// build cache makes every build after the first one a link.
func poolscopeBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "poolscope-bin-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build poolscope: %v", err)
	}
	bin := filepath.Join(dir, "poolscope")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs the built poolscope with only vars (and PATH) as its
// environment and returns its exit status and output.
func runBinary(t *testing.T, bin string, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// TestHostileInputsBinary runs one hostile case of each kind through the real
// binary: the exit status the shell sees is 2, and nothing panics.
func TestHostileInputsBinary(t *testing.T) {
	bin := poolscopeBinary(t)
	var cases []hostileCase
	for _, group := range [][]hostileCase{poolsCases(t), exportersCases(t), agentCases(), checkCases()} {
		// The first, the middle and the last case of every group, by name.
		sort.Slice(group, func(i, j int) bool { return group[i].name < group[j].name })
		cases = append(cases, group[0], group[len(group)/2], group[len(group)-1])
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBinary(t, bin, tc.env, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%.2000s", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%.2000s", w, stderr)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr shows a panic:\n%s", stderr)
			}
			if _, known := knownLeak(tc.name); !known && strings.Contains(stdout+stderr, canary) {
				t.Errorf("output shows the canary password:\n%s\n%s", stdout, stderr)
			}
		})
	}
}

// TestAgentUnreadableTargetsOnce runs the agent as an unprivileged user
// (nobody) against a process of root's, the situation of an agent sharing a
// host with other users' applications: the process's memory (statm is
// world-readable) is reported, its PSS and its file descriptors are not, and
// each of the two causes is logged once, however many passes see it. A
// process that exits is dropped without a warning.
func TestAgentUnreadableTargetsOnce(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test switches to the user nobody and must run as root (as the test machines do)")
	}
	s := redistest.Start(t, redisserver.Options{})
	bin := poolscopeBinary(t)
	// The test process (root's) holds a connection, so discovery has
	// processes to look at.
	if err := s.Admin().Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}

	// A process of root's that exits half-way: `sleep`.
	victim := exec.Command("sleep", "30")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Process.Kill(); _ = victim.Wait() })
	// The server is root's too: its fds cannot be read by nobody.
	serverPID := strconv.Itoa(s.Pid())

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "agent", "--redis", s.URL(), "--pid", serverPID, "--pid", strconv.Itoa(victim.Process.Pid),
		"--discover", "--discover-every", "1", "--pss", "--interval", "100ms", "--log-level", "debug")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "OTEL_METRICS_EXPORTER=none"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		_ = cmd.Wait()
	}
	t.Cleanup(stop)

	// Once per process (the server and the victim) for PSS and fds, once
	// in all for discovery.
	want := map[string]int{
		"cannot read smaps_rollup":                   2,
		"cannot read the process's file descriptors": 2,
		"discovery cannot read the file descriptors": 1,
		"agent: started":                             1,
	}
	redistest.Eventually(t, 20*time.Second, func() error {
		out := stderr.String()
		for m, n := range want {
			if strings.Count(out, m) < n {
				return fmt.Errorf("no %q yet:\n%s", m, out)
			}
		}
		return nil
	})
	// The victim exits; then many more passes run (the agent sends one
	// CLIENT LIST per pass at this size: the server counts them).
	_ = victim.Process.Kill()
	_ = victim.Wait()
	start := clientListCalls(t, s)
	redistest.Eventually(t, 30*time.Second, func() error {
		if n := clientListCalls(t, s) - start; n < 10 {
			return fmt.Errorf("%d passes since the victim exited, want 10", n)
		}
		return nil
	})
	stop()
	out := stderr.String()
	for msg, want := range want {
		if n := strings.Count(out, msg); n != want {
			t.Errorf("%q logged %d times, want %d:\n%s", msg, n, want, out)
		}
	}
	for _, unwanted := range []string{"level=ERROR", "panic"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log shows %q:\n%s", unwanted, out)
		}
	}
	// The victim was asked for by --pid: its disappearance is said once.
	if n := strings.Count(out, "process not found; it is not reported"); n != 1 {
		t.Errorf("the victim's exit was logged %d times, want once:\n%s", n, out)
	}
}

// clientListCalls is the server's count of CLIENT LIST commands, from INFO
// commandstats.
func clientListCalls(t *testing.T, s *redisserver.Server) int {
	t.Helper()
	stats, err := s.Admin().Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(stats, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_client|list:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}
