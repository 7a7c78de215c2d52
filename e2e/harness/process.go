package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopGrace is how long Stop lets a process take to exit after
// SIGTERM before it kills it. The collector and Prometheus exit in well
// under a second; the workload and the agent flush their last metrics first
// (bounded at 5 s).
const DefaultStopGrace = 10 * time.Second

// ErrExited marks the error of a readiness check or a poll whose process
// died first.
var ErrExited = errors.New("exited")

// Options adjust Start.
type Options struct {
	// Log is a file that receives the output the caller did not take
	// (cmd.Stdout or cmd.Stderr left nil), appended: a process restarted
	// with the same Log keeps one file. Empty: the output is kept in
	// memory, its last MiB at most.
	Log string
}

// Process is one supervised child process.
type Process struct {
	Name string
	// LogPath is the file that receives its output (Options.Log), empty
	// when the output is in memory or the caller took it all.
	LogPath string

	cmd    *exec.Cmd
	memory *tailBuffer // the output, when it is neither the caller's nor in a file
	exited chan struct{}

	mu      sync.Mutex
	waitErr error
}

// Start starts cmd as the leader of its own process group (so that Stop
// reaches whatever it starts), with SIGKILL as its parent-death signal (a
// harness that dies, by a panic, a timeout or SIGKILL, leaves nothing
// behind), its output where Options say, and waits for it in the
// background. cmd.SysProcAttr is replaced.
func Start(name string, cmd *exec.Cmd, opts Options) (*Process, error) {
	p := &Process{Name: name, cmd: cmd, exited: make(chan struct{})}
	logFile, err := p.routeOutput(opts.Log)
	if err != nil {
		return nil, err
	}
	if logFile != nil {
		defer logFile.Close() // the child has its own copy
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start %s (%s): %w", name, cmd.Path, err)
	}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// routeOutput points the stdout and stderr the caller left nil at the log
// file (returned, for the caller to close once the child holds it) or at
// memory.
func (p *Process) routeOutput(log string) (*os.File, error) {
	if p.cmd.Stdout != nil && p.cmd.Stderr != nil {
		return nil, nil
	}
	var out interface{ Write([]byte) (int, error) }
	var f *os.File
	if log != "" {
		var err error
		if f, err = os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return nil, fmt.Errorf("harness: %s: log file: %w", p.Name, err)
		}
		p.LogPath, out = log, f
	} else {
		p.memory = &tailBuffer{}
		out = p.memory
	}
	if p.cmd.Stdout == nil {
		p.cmd.Stdout = out
	}
	if p.cmd.Stderr == nil {
		p.cmd.Stderr = out
	}
	return f, nil
}

// Pid is the process id (and its process group's id).
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

// ExitErr is the process's exit error (nil for exit status 0), once it
// has exited.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// CheckRunning returns nil while the process runs and, once it has
// exited, an error wrapping ErrExited with its exit status and the last
// lines of its output.
func (p *Process) CheckRunning() error {
	if p.Running() {
		return nil
	}
	return fmt.Errorf("harness: %s %w (%v); its output: %s", p.Name, ErrExited, p.cmd.ProcessState, p.LogTail(20))
}

// Stop stops the process within DefaultStopGrace (see StopWithin).
func (p *Process) Stop() error { return p.StopWithin(DefaultStopGrace) }

// StopWithin sends SIGTERM to the process group, waits up to grace, then
// sends SIGKILL. Calling it again, or after the process exited, is a
// no-op. It returns an error only when the process had to be killed.
func (p *Process) StopWithin(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	pgid := -p.Pid()
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		// Anything the process left in its group goes too.
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		return nil
	case <-timer.C:
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("harness: %s (pid %d) ignored SIGTERM for %s and was killed; its output: %s", p.Name, p.Pid(), grace, p.LogTail(20))
}

// Kill sends SIGKILL to the process group and returns at once: Exited
// says when it is gone. It is for processes that hold nothing worth a
// clean exit (many idle ones stopped together).
func (p *Process) Kill() {
	if p.Running() { // once waited for, its pid may belong to another process
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	}
}

// WaitReady polls ready (see Poll) until it returns nil; it ends early,
// with an error wrapping ErrExited, when the process dies first.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, ready func() error) error {
	return Poll(ctx, timeout, func() error {
		err := ready()
		if err == nil {
			return nil
		}
		if exit := p.CheckRunning(); exit != nil {
			return exit
		}
		return err
	})
}

// Output is everything the process has written so far where the harness
// keeps it (the log file or memory); empty when the caller took it.
func (p *Process) Output() (string, error) {
	switch {
	case p.memory != nil:
		return p.memory.String(), nil
	case p.LogPath != "":
		b, err := os.ReadFile(p.LogPath)
		return string(b), err
	}
	return "", nil
}

// LogTail returns the last n lines of the output, for failure messages,
// after the log file's name when there is one.
func (p *Process) LogTail(n int) string {
	if p.memory == nil && p.LogPath == "" {
		return "(its output went to the caller)"
	}
	out, err := p.Output()
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", p.LogPath, err)
	}
	tail := lastLines(out, n)
	if p.LogPath != "" {
		return p.LogPath + ":\n" + tail
	}
	return tail
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
