package stack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process may take to exit after SIGTERM before it
// is killed. The collector and Prometheus exit in well under a second; the
// workload and the agent flush their last metrics first (bounded at 5 s).
const stopGrace = 10 * time.Second

// Process is one child process of the test.
type Process struct {
	Name    string
	LogPath string // stdout and stderr, unless the caller took stdout

	cmd    *exec.Cmd
	exited chan struct{}

	mu      sync.Mutex
	waitErr error
}

// Start starts cmd as its own process group, with SIGKILL as its
// parent-death signal so that a test binary that dies (a panic, a timeout,
// SIGKILL) leaves nothing behind, and registers Stop with t.Cleanup. Output
// goes to a log file in the test's temporary directory unless cmd.Stdout or
// cmd.Stderr is already set.
func Start(tb testing.TB, name string, cmd *exec.Cmd) (*Process, error) {
	tb.Helper()
	p := &Process{Name: name, cmd: cmd, exited: make(chan struct{})}
	if cmd.Stdout == nil || cmd.Stderr == nil {
		p.LogPath = filepath.Join(tb.TempDir(), name+".log")
		f, err := os.Create(p.LogPath)
		if err != nil {
			return nil, fmt.Errorf("stack: %s: log file: %w", name, err)
		}
		defer f.Close() // the child has its own copy
		if cmd.Stdout == nil {
			cmd.Stdout = f
		}
		if cmd.Stderr == nil {
			cmd.Stderr = f
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("stack: start %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited and been waited for.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process is still alive.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ExitErr is the process's exit error, once it has exited.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Stop sends SIGTERM to the process group, waits up to stopGrace, then
// sends SIGKILL. Calling it again, or after the process exited, is a no-op.
// It returns an error only when the process had to be killed.
func (p *Process) Stop() error {
	if !p.Running() {
		return nil
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
		// Anything the process left in its group goes too.
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		return nil
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("stack: %s (pid %d) ignored SIGTERM for %s and was killed; log: %s", p.Name, p.Pid(), stopGrace, p.LogTail(20))
}

// LogTail returns the last n lines of the process's log, for failure
// messages.
func (p *Process) LogTail(n int) string {
	if p.LogPath == "" {
		return "(no log file)"
	}
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", p.LogPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return p.LogPath + ":\n" + strings.Join(lines, "\n")
}

// errExited is returned by readiness polls when the process died first.
var errExited = errors.New("exited")

// waitReady polls ready every 50 ms until it returns nil, the process
// exits (errExited) or timeout passes.
func (p *Process) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%w (%v) before it was ready", errExited, p.ExitErr())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		select {
		case <-p.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}
