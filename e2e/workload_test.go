package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/e2e/internal/wire"
)

// workload is the running e2e/internal/workload process, driven through its
// stdin and stdout.
type workload struct {
	*harness.Process
	stdin io.WriteCloser
	lines chan string
	ready wire.Reply
}

func startWorkload(t *testing.T, binary string, env []string) *workload {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	p, err := harness.StartTest(t, "workload", cmd)
	w.Close() // the child holds the write end now
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	wl := &workload{Process: p, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		defer r.Close()
		defer close(wl.lines)
		scanner := bufio.NewScanner(r)
		for scanner.Scan() {
			wl.lines <- scanner.Text()
		}
	}()
	// pools.FromEnv asks the Sentinel for the master and dials the async
	// pool's minimum before the workload says it is ready.
	if wl.ready, err = wl.next(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if wl.ready.Event != "ready" {
		t.Fatalf("workload's first line is %+v, want the ready event", wl.ready)
	}
	return wl
}

// next reads the workload's next reply.
func (w *workload) next(timeout time.Duration) (wire.Reply, error) {
	select {
	case line, ok := <-w.lines:
		if !ok {
			return wire.Reply{}, fmt.Errorf("workload exited (%v); %s", w.ExitErr(), w.LogTail(20))
		}
		var r wire.Reply
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return wire.Reply{}, fmt.Errorf("workload wrote %q: %v", line, err)
		}
		if r.Event == "error" {
			return r, fmt.Errorf("workload: %s", r.Error)
		}
		return r, nil
	case <-time.After(timeout):
		return wire.Reply{}, fmt.Errorf("no reply from the workload after %s; %s", timeout, w.LogTail(20))
	}
}

// do sends one command and returns its reply. "quiet" waits for every
// command in flight, the longest being a 1 s BRPOP.
func (w *workload) do(command string) (wire.Reply, error) {
	if _, err := io.WriteString(w.stdin, command+"\n"); err != nil {
		return wire.Reply{}, fmt.Errorf("workload stdin: %w", err)
	}
	r, err := w.next(15 * time.Second)
	if err == nil && r.Event != strings.Fields(command)[0] {
		err = fmt.Errorf("workload answered %q with %+v", command, r)
	}
	return r, err
}
