package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// pids lists the processes process.memory.usage reports.
func reportedPIDs(ta *testAgent, t *testing.T) map[int64]string {
	out := map[int64]string{}
	for _, p := range ta.collect(t)[metricMemoryUsage] {
		out[p.int(attrProcessPID)] = p.str(attrExecutableName)
	}
	return out
}

func TestPIDFileIsFollowed(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	first := startHelper(t, "1="+s.URL())
	second := startHelper(t, "1="+s.URL())
	file := filepath.Join(t.TempDir(), "app.pid")
	if err := os.WriteFile(file, []byte(strconv.Itoa(first.pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, WithPIDFile(file), WithDiscoverEvery(1), WithRedis(s.URL()))
	only := func(pid int) func() error {
		return func() error {
			got := reportedPIDs(ta, t)
			if len(got) != 1 || got[int64(pid)] == "" {
				return fmt.Errorf("reported %v, want only pid %d", got, pid)
			}
			conns := byAttr(ta.collect(t)[metricProcessConnections], attrProcessPID, strconv.Itoa(pid))
			if len(conns) != 1 || conns[0].value != 1 {
				return fmt.Errorf("connections of %d: %v, want 1", pid, conns)
			}
			return nil
		}
	}
	redistest.Eventually(t, waitFor, only(first.pid))
	if err := os.WriteFile(file, []byte(strconv.Itoa(second.pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, waitFor, only(second.pid))

	// A broken pid file selects nothing.
	if err := os.WriteFile(file, []byte("not a pid"), 0o600); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, waitFor, func() error {
		if got := reportedPIDs(ta, t); len(got) != 0 {
			return fmt.Errorf("reported %v, want nothing", got)
		}
		return nil
	})
}

func TestMatchSelectsByCommandLine(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	h := startHelper(t, "2="+s.URL())
	// The helpers run as "<test binary> -test.run=^$"; the test process
	// itself has other arguments.
	ta := startAgent(t, WithMatch(regexp.MustCompile(`-test\.run=\^\$$`)), WithRedis(s.URL()))
	redistest.Eventually(t, waitFor, func() error {
		got := reportedPIDs(ta, t)
		if len(got) != 1 || got[int64(h.pid)] != filepath.Base(os.Args[0]) {
			return fmt.Errorf("reported %v, want only the helper %d named %q", got, h.pid, filepath.Base(os.Args[0]))
		}
		return nil
	})
}

// Problems are logged once per target and cause, however many passes see
// them, and the end of a problem once.
func TestProblemsLoggedOncePerCause(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.pid")
	if err := os.WriteFile(file, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &redistest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: newConfig([]Option{WithPIDs(1 << 30), WithPIDFile(file), WithSelf()}), logger: logger,
		problems: newProblems(logger), procRoot: procfs.DefaultMountPoint, fs: fs, tracked: map[int]*trackedProcess{}}
	for range 3 {
		a.refreshProcesses(t.Context())
		a.sampleProcesses()
	}
	if err := os.WriteFile(file, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a.refreshProcesses(t.Context())
		a.sampleProcesses()
	}
	out := logs.String()
	for msg, want := range map[string]int{"process not found": 1, "cannot use the pid file": 1, "pid file usable again": 1} {
		if n := strings.Count(out, msg); n != want {
			t.Errorf("%q logged %d times, want %d:\n%s", msg, n, want, out)
		}
	}
	if ps := a.procs.Load(); ps == nil || len(*ps) != 1 {
		t.Errorf("samples = %v, want the agent's own process once", ps)
	}
}

func TestTLSServer(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{TLS: true})
	ta := startAgent(t, WithRedis(s.URL()), WithTLSConfig(s.ClientTLSConfig()))
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		if u := m[metricUp]; len(u) != 1 || u[0].value != 1 {
			return fmt.Errorf("up = %v", u)
		}
		if c := m[metricClientsConnected]; len(c) != 1 || c[0].value != 0 {
			return fmt.Errorf("connected = %v, want 0", c)
		}
		return nil
	})
}

// A least-privilege ACL user: no CLIENT ID (the agent then recognises its
// connection by name and command) and no CLIENT LIST at all for the second
// user (one warning, no per-name series, everything else reported).
func TestRestrictedACLUsers(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{Users: []redisserver.User{
		{Name: "noid", Password: "pw1", Rules: "-@all +hello +info +client|list +client|setname"},
		{Name: "nolist", Password: "pw2", Rules: "-@all +hello +info +client|setname"},
	}})
	noID, noList := s.URLFor("noid", "pw1"), s.URLFor("nolist", "pw2")
	ta := startAgent(t, WithRedis(noID))
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		if u := m[metricUp]; len(u) != 1 || u[0].value != 1 {
			return fmt.Errorf("up = %v", u)
		}
		if g := m[metricServerConnections]; len(g) != 0 {
			return fmt.Errorf("groups = %v, want none (only the agent is connected)", groups(g))
		}
		return nil
	})

	ta2 := startAgent(t, WithRedis(noList))
	redistest.Eventually(t, waitFor, func() error {
		m := ta2.collect(t)
		if u := m[metricUp]; len(u) != 1 || u[0].value != 1 {
			return fmt.Errorf("up = %v", u)
		}
		if len(m[metricClientsConnected]) != 1 {
			return errors.New("redis.clients.connected missing")
		}
		if n := strings.Count(ta2.logs.String(), "CLIENT LIST failed"); n != 1 {
			return fmt.Errorf("CLIENT LIST failure logged %d times, want once", n)
		}
		return nil
	})
	if strings.Contains(ta2.logs.String(), "pw2") {
		t.Errorf("the log shows the password:\n%s", ta2.logs.String())
	}
}
