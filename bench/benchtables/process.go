package benchtables

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/prometheus/procfs"

	"github.com/poolscope/poolscope/e2e/harness"
)

// startChild starts bin with args and env (added to a minimal environment:
// PATH and HOME only, so that the caller's REDIS_* and OTEL_* variables do
// not change what is measured), its output kept in memory for failure
// messages and parsing, killed with the bench process.
func startChild(name, bin string, args, env []string) (*harness.Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p, err := harness.Start(name, cmd, harness.Options{})
	if err != nil {
		return nil, fmt.Errorf("benchtables: %w", err)
	}
	return p, nil
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
	dir   string
	null  *os.File // their stdout and stderr: no pipe, no copying goroutine each
	procs []*harness.Process
}

// SleeperName is the executable and command name of the sampled processes.
// It is under 16 bytes, so /proc/PID/comm holds it whole.
const SleeperName = "psbench-sleep"

// startSleepers starts n idle processes.
func startSleepers(n int) (*sleepers, error) {
	dir, err := os.MkdirTemp("", "poolscope-bench-")
	if err != nil {
		return nil, fmt.Errorf("benchtables: temp dir: %w", err)
	}
	s := &sleepers{dir: dir}
	if s.null, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
		s.stop()
		return nil, fmt.Errorf("benchtables: %w", err)
	}
	bin, err := copySleep(dir, SleeperName)
	if err != nil {
		s.stop()
		return nil, err
	}
	for range n {
		cmd := exec.Command(bin, "infinity")
		cmd.Stdout, cmd.Stderr = s.null, s.null
		p, err := harness.Start(SleeperName, cmd, harness.Options{})
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("benchtables: sleeper %d of %d: %w", len(s.procs)+1, n, err)
		}
		s.procs = append(s.procs, p)
	}
	return s, nil
}

// copySleep copies sleep(1) into dir under name (at most 15 bytes, so that
// /proc/PID/comm holds it whole) and returns the copy's path.
func copySleep(dir, name string) (string, error) {
	src, err := exec.LookPath("sleep")
	if err != nil {
		return "", fmt.Errorf("benchtables: sleep(1) not found in PATH (coreutils): %w", err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("benchtables: read %s: %w", src, err)
	}
	bin := filepath.Join(dir, name)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		return "", fmt.Errorf("benchtables: write %s: %w", bin, err)
	}
	return bin, nil
}

// stop kills every sleeper at once, then waits for them all.
func (s *sleepers) stop() {
	for _, p := range s.procs {
		p.Kill()
	}
	for _, p := range s.procs {
		<-p.Exited()
	}
	s.procs = nil
	if s.null != nil {
		_ = s.null.Close()
	}
	_ = os.RemoveAll(s.dir)
}

// measurementWindow waits out a measurement period: not a wait for a
// state, since whatever is measured runs on its own timer meanwhile.
func measurementWindow(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// errNotYet is a readiness check's answer while a sampler has reported
// nothing yet.
var errNotYet = errors.New("not yet")
