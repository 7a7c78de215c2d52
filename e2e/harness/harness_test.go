package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// shell starts sh -c script under the harness, its output in memory.
func shell(t *testing.T, name, script string) *Process {
	t.Helper()
	p, err := Start(name, exec.Command("sh", "-c", script), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill(); <-p.Exited() })
	return p
}

// printed is a readiness check: the output contains s.
func printed(p *Process, s string) func() error {
	return func() error {
		out, err := p.Output()
		if err == nil && !strings.Contains(out, s) {
			err = errors.New("not printed yet")
		}
		return err
	}
}

func TestStopEndsTheProcessWithSIGTERM(t *testing.T) {
	p := shell(t, "sleeper", "exec sleep 60")
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("running after Stop")
	}
	var exit *exec.ExitError
	if !errors.As(p.ExitErr(), &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("exit %v, want death by SIGTERM", p.ExitErr())
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
}

func TestStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	p := shell(t, "stubborn", `trap "" TERM; echo ready; while :; do sleep 1; done`)
	if err := p.WaitReady(context.Background(), 30*time.Second, printed(p, "ready")); err != nil {
		t.Fatal(err)
	}
	err := p.StopWithin(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "stubborn") || !strings.Contains(err.Error(), "ignored SIGTERM for 200ms") {
		t.Fatalf("StopWithin = %v, want the ignored-SIGTERM error naming the process", err)
	}
	// The killed shell's sleep is reaped by init a moment later.
	err = Poll(context.Background(), 10*time.Second, func() error {
		left, err := Leftovers(os.Getpid(), []int{p.Pid()})
		if err == nil && len(left) > 0 {
			err = fmt.Errorf("left behind: %v", left)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWaitReadyEndsWhenTheProcessDies(t *testing.T) {
	p := shell(t, "crasher", "echo boom; exit 3")
	start := time.Now()
	err := p.WaitReady(context.Background(), time.Minute, func() error { return errors.New("never ready") })
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "crasher") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("WaitReady = %v, want ErrExited with the name and the output", err)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Fatalf("WaitReady took %s: it did not end at the exit", waited)
	}
}

func TestPollTimesOutWithTheLastError(t *testing.T) {
	err := Poll(context.Background(), 100*time.Millisecond, func() error { return errors.New("still 3 of 5") })
	if err == nil || !strings.Contains(err.Error(), "not ready after 100ms: still 3 of 5") {
		t.Fatalf("Poll = %v", err)
	}
}

func TestLeftoversFindsAGrandchildInTheGroup(t *testing.T) {
	// The leader exits at once, leaving a sleep in its process group. Its
	// output goes to a file: a pipe that the sleep inherits would hold
	// back the leader's Wait until the sleep ends.
	p, err := Start("parent", exec.Command("sh", "-c", "sleep 60 & echo started"), Options{Log: filepath.Join(t.TempDir(), "parent.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-p.Pid(), syscall.SIGKILL) }()
	<-p.Exited()
	left, err := Leftovers(os.Getpid(), []int{p.Pid()})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || !strings.Contains(left[0].Command, "sleep 60") {
		t.Fatalf("leftovers %v, want the sleep", left)
	}
}

func TestLogFileKeepsEveryRun(t *testing.T) {
	log := filepath.Join(t.TempDir(), "twice.log")
	for _, word := range []string{"first", "second"} {
		p, err := Start("twice", exec.Command("echo", word), Options{Log: log})
		if err != nil {
			t.Fatal(err)
		}
		<-p.Exited()
	}
	p, err := Start("twice", exec.Command("true"), Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if tail := p.LogTail(2); tail != log+":\nfirst\nsecond" {
		t.Fatalf("LogTail = %q", tail)
	}
}

func TestTailBufferStaysBounded(t *testing.T) {
	var b tailBuffer
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for range 3 * tailMax / len(line) {
		_, _ = b.Write(line)
	}
	if n := len(b.String()); n > tailMax+len(line) {
		t.Fatalf("%d bytes kept, want at most %d", n, tailMax+len(line))
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs(filepath.Join("..", ".."))
	if root != want {
		t.Fatalf("RepoRoot = %s, want %s", root, want)
	}
}
