package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/pools"
)

// helperEnv turns the test binary into a helper process: its value is a
// space-separated list of COUNT=URL, and the helper holds COUNT connections
// to each URL, named "svc:master:<its pid>" (pools.ClientName), prints
// "ready" and waits for its stdin to close.
const helperEnv = "POOLSCOPE_AGENT_HELPER"

func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(runHelper(spec))
	}
	os.Exit(m.Run())
}

func runHelper(spec string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := pools.ClientName("svc", pools.Master, os.Getpid())
	var held []*redis.Conn
	for _, pair := range strings.Fields(spec) {
		count, url, _ := strings.Cut(pair, "=")
		n, err := strconv.Atoi(count)
		o, perr := redis.ParseURL(url)
		if err != nil || perr != nil {
			fmt.Fprintf(os.Stderr, "helper: bad spec %q\n", pair)
			return 2
		}
		o.ClientName, o.PoolSize, o.MaxRetries = name, n, -1
		c := redis.NewClient(o)
		for range n {
			conn := c.Conn()
			if err := conn.Ping(ctx).Err(); err != nil {
				fmt.Fprintf(os.Stderr, "helper: ping %s: %v\n", url, err)
				return 1
			}
			held = append(held, conn)
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range held {
		_ = c.Close()
	}
	return 0
}

// helper is a running helper process.
type helper struct {
	pid int
	cmd *exec.Cmd
}

// startHelper starts a helper holding the given connections (COUNT=URL
// pairs) and waits until it has them all.
func startHelper(t *testing.T, pairs ...string) *helper {
	t.Helper()
	return startHelperIn(t, "", pairs...)
}

// startHelperIn is startHelper inside the named network namespace (ip
// netns exec, which execs the helper: its pid is the command's).
func startHelperIn(t *testing.T, netns string, pairs ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if netns != "" {
		cmd = exec.Command("ip", "netns", "exec", netns, os.Args[0], "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(pairs, " "))
	cmd.Stderr = os.Stderr
	// The helper dies with the test binary even when the test is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("helper said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper not ready after 30s")
	}
	return &helper{pid: cmd.Process.Pid, cmd: cmd}
}
