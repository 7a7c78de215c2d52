package benchtables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// child is a program the tables run (the agent, a collector, a sleeper),
// killed with the bench process (Pdeathsig) and by Stop.
type child struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr, for failure messages and parsing
	done chan struct{}
}

// startChild starts bin with args and env (added to a minimal environment:
// PATH and HOME only, so that the caller's REDIS_* and OTEL_* variables do
// not change what is measured).
func startChild(name, bin string, args, env []string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("benchtables: start %s (%s): %w", name, bin, err)
	}
	c := &child{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports an error when the child is no longer running.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("benchtables: %s %w (%v); its output:\n%s", c.name, errExited, c.cmd.ProcessState, c.out.tail(20))
	default:
		return nil
	}
}

// stop sends SIGTERM, waits up to 10 s, then kills.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// usage is a process's CPU time and memory at one instant.
type usage struct {
	cpu     float64 // utime+stime, seconds
	rss     uint64  // bytes
	rssAnon uint64  // RssAnon: heap, stacks (bytes)
	rssFile uint64  // RssFile: mapped files, the executable's pages among them (bytes)
	peakRSS uint64  // VmHWM, bytes
}

// readUsage reads /proc/PID/stat and /proc/PID/status.
func readUsage(pid int) (usage, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return usage{}, fmt.Errorf("benchtables: pid %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return usage{}, fmt.Errorf("benchtables: /proc/%d/stat: %w", pid, err)
	}
	status, err := p.NewStatus()
	if err != nil {
		return usage{}, fmt.Errorf("benchtables: /proc/%d/status: %w", pid, err)
	}
	return usage{cpu: st.CPUTime(), rss: status.VmRSS, rssAnon: status.RssAnon, rssFile: status.RssFile, peakRSS: status.VmHWM}, nil
}

// sleepers are idle processes for the agents to sample: copies of sleep(1)
// under a name of their own (SleeperName), so that both agents can select
// exactly them by name.
type sleepers struct {
	dir  string
	cmds []*exec.Cmd
}

// SleeperName is the executable and command name of the sampled processes.
// It is under 16 bytes, so /proc/PID/comm holds it whole.
const SleeperName = "psbench-sleep"

// startSleepers starts n idle processes.
func startSleepers(n int) (*sleepers, error) {
	src, err := exec.LookPath("sleep")
	if err != nil {
		return nil, fmt.Errorf("benchtables: sleep(1) not found in PATH (coreutils): %w", err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("benchtables: read %s: %w", src, err)
	}
	dir, err := os.MkdirTemp("", "poolscope-bench-")
	if err != nil {
		return nil, fmt.Errorf("benchtables: temp dir: %w", err)
	}
	s := &sleepers{dir: dir}
	bin := filepath.Join(dir, SleeperName)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		s.stop()
		return nil, fmt.Errorf("benchtables: write %s: %w", bin, err)
	}
	for range n {
		cmd := exec.Command(bin, "infinity")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			s.stop()
			return nil, fmt.Errorf("benchtables: start sleeper %d of %d: %w", len(s.cmds)+1, n, err)
		}
		s.cmds = append(s.cmds, cmd)
	}
	return s, nil
}

func (s *sleepers) stop() {
	for _, c := range s.cmds {
		_ = c.Process.Kill()
	}
	for _, c := range s.cmds {
		_ = c.Wait()
	}
	s.cmds = nil
	_ = os.RemoveAll(s.dir)
}

// poll calls cond every 50 ms until it returns nil, ctx ends or the
// timeout passes; it returns the last error. An error wrapping errExited
// (a child died) ends it at once.
func poll(ctx context.Context, timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := cond()
		if err == nil || errors.Is(err, errExited) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not true after %s: %w", timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a child's output and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Keep the buffer bounded: a chatty child over minutes must not grow
	// the bench's own memory without limit.
	if s.b.Len() > 1<<20 {
		rest := s.b.Bytes()[s.b.Len()-1<<19:]
		s.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tail is the last n lines.
func (s *syncBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(s.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	errNotYet = errors.New("not yet")
	errExited = errors.New("exited early")
)
