package memtable

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a worker process started by the parent. Its stdout is read
// line by line into lines; the tail of its stderr is kept for error
// messages.
type child struct {
	name   string // for messages: "plain N=10 pools off worker 3"
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *tail
	exited chan struct{} // closed when the process has been waited for
	err    error         // Wait's result, set before exited is closed
}

// startChild starts exe as a worker of the given kind with extra
// environment variables (on top of the parent's, without any REDIS_*,
// OTEL_* or POOLSCOPE_MEMTABLE_* variable of the parent's own).
func startChild(name, exe, kind string, env []string) (*child, error) {
	cmd := exec.Command(exe)
	cmd.Env = append(workerEnviron(), envWorker+"="+kind)
	cmd.Env = append(cmd.Env, env...)
	// A parent that dies must not leave workers holding connections.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, lines: make(chan string, 16), stderr: &tail{max: 4096}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("memtable: start %s (%s): %w", name, exe, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		// Wait only after stdout has reached its end: Wait closes the pipe.
		c.err = cmd.Wait()
		close(c.exited)
		close(c.lines)
	}()
	return c, nil
}

// workerEnviron is the parent's environment without the variables that
// configure pools, OpenTelemetry or memtable's workers, so that the
// user's shell cannot change what is measured.
func workerEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REDIS_") || strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "POOLSCOPE_MEMTABLE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// pid is the worker's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// send writes one command line to the worker's stdin.
func (c *child) send(line string) error {
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return fmt.Errorf("memtable: %s: send %q: %w%s", c.name, line, err, c.stderr.suffix())
	}
	return nil
}

// awaitSteady waits for the worker's next "steady" line.
func (c *child) awaitSteady(ctx context.Context) (steadyLine, error) {
	for {
		select {
		case <-ctx.Done():
			return steadyLine{}, fmt.Errorf("memtable: %s (pid %d) not steady: %w%s", c.name, c.pid(), ctx.Err(), c.stderr.suffix())
		case line, ok := <-c.lines:
			if !ok {
				return steadyLine{}, fmt.Errorf("memtable: %s (pid %d) exited before it was steady: %v%s", c.name, c.pid(), c.err, c.stderr.suffix())
			}
			js, found := strings.CutPrefix(line, "steady ")
			if !found {
				continue // not part of the protocol: ignore
			}
			var s steadyLine
			if err := json.Unmarshal([]byte(js), &s); err != nil {
				return steadyLine{}, fmt.Errorf("memtable: %s: bad steady line %q: %w", c.name, line, err)
			}
			return s, nil
		}
	}
}

// stop asks the worker to exit and waits up to timeout, then kills it.
// A worker that exits with an error is reported.
func (c *child) stop(timeout time.Duration) error {
	_ = c.send("exit")
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("memtable: %s (pid %d) did not exit within %s; killed%s", c.name, c.pid(), timeout, c.stderr.suffix())
	}
	if c.err != nil {
		return fmt.Errorf("memtable: %s (pid %d): %v%s", c.name, c.pid(), c.err, c.stderr.suffix())
	}
	return nil
}

// stopAll stops the workers concurrently and joins their errors.
func stopAll(children []*child, timeout time.Duration) error {
	errs := make([]error, len(children))
	var wg sync.WaitGroup
	for i, c := range children {
		wg.Go(func() { errs[i] = c.stop(timeout) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// suffix is ": stderr: ..." with the kept output, or "" when there is none.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "; its stderr: " + s
}
