package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// netnsPair is two network namespaces the test made (ip netns add), joined
// by a veth pair: the server's at serverIP, the application's at appIP. It
// is a pod talking to a Redis server elsewhere, with the agent (the test
// process) in neither: the DaemonSet layout. Nothing is added to the
// test's own namespace.
type netnsPair struct {
	server, app     string
	serverIP, appIP string
}

// newNetnsPair makes the namespaces and removes them at cleanup. It needs
// root (CI runs as root): without it the test fails and says why, since a
// skipped proof proves nothing.
func newNetnsPair(t *testing.T) netnsPair {
	t.Helper()
	pid := os.Getpid()
	// 10.(200..249).(0..249).0/30 from the pid: parallel test binaries get
	// different subnets, all inside the test's own namespaces.
	subnet := fmt.Sprintf("10.%d.%d", 200+pid%50, (pid/50)%250)
	p := netnsPair{
		server: fmt.Sprintf("poolscope-%d-srv", pid), app: fmt.Sprintf("poolscope-%d-app", pid),
		serverIP: subnet + ".1", appIP: subnet + ".2",
	}
	vs, va := fmt.Sprintf("ps%ds", pid), fmt.Sprintf("ps%da", pid) // at most 15 bytes
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s (this test makes network namespaces and needs root, as on CI; id: %s)",
				strings.Join(args, " "), err, strings.TrimSpace(string(out)), idString())
		}
	}
	for _, ns := range []string{p.server, p.app} {
		run("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", p.server, "link", "add", vs, "type", "veth", "peer", "name", va, "netns", p.app)
	run("-n", p.server, "addr", "add", p.serverIP+"/30", "dev", vs)
	run("-n", p.app, "addr", "add", p.appIP+"/30", "dev", va)
	run("-n", p.server, "link", "set", vs, "up")
	run("-n", p.app, "link", "set", va, "up")
	return p
}

func idString() string {
	out, err := exec.Command("id").CombinedOutput()
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// A workload in its own network namespace, connected over a veth pair to a
// server in another, and the agent in neither: discovery reads the
// workload's socket table (/proc/PID/net/tcp), finds it and counts its
// connections, and the count equals the server's CLIENT LIST.
func TestDiscoverAcrossNetworkNamespaces(t *testing.T) {
	p := newNetnsPair(t)
	s := redistest.Start(t, redisserver.Options{NetNS: p.server, Host: p.serverIP})
	h := startHelperIn(t, p.app, "3="+s.URL())

	own, err := netNamespace("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if theirs, err := netNamespace("/proc", h.pid); err != nil || theirs == own {
		t.Fatalf("the helper's network namespace is %d (%v), the agent's %d: want a different one", theirs, err, own)
	}

	ta := startAgent(t, WithDiscover(), WithDiscoverEvery(1), WithRedis(s.URL()))
	name := pools.ClientName("svc", pools.Master, h.pid)
	pid := strconv.Itoa(h.pid)
	redistest.Eventually(t, waitFor, func() error {
		conns := byAttr(ta.collect(t)[metricProcessConnections], attrProcessPID, pid)
		if len(conns) != 1 {
			return fmt.Errorf("connection points for the helper: %d, want 1", len(conns))
		}
		if got := conns[0].str(attrServerAddress); got != p.serverIP {
			return fmt.Errorf("server.address = %q, want %q", got, p.serverIP)
		}
		byName, err := s.ClientsByName(t.Context())
		if err != nil {
			return err
		}
		if got, want := conns[0].value, int64(byName[name]); got != want || want != 3 {
			return fmt.Errorf("agent counts %d connections for the helper, CLIENT LIST %d for %q; want 3 both", got, want, name)
		}
		return nil
	})
}

// In a namespace other than the agent's, a loopback address is that
// namespace's own loopback: a connection to 127.0.0.1:PORT there is not to
// the agent's 127.0.0.1:PORT server, and must not be counted for it.
func TestForeignLoopbackNotCounted(t *testing.T) {
	p := newNetnsPair(t)
	// A server on the app namespace's loopback, and the agent watching the
	// same address and port on its own loopback.
	foreign := redistest.Start(t, redisserver.Options{NetNS: p.app})
	local := redistest.Start(t, redisserver.Options{})
	h := startHelperIn(t, p.app, "2="+foreign.URL())
	// A helper beside the agent, connected to the local server: once it is
	// discovered, a discovery pass has looked at both helpers.
	near := startHelper(t, "1="+local.URL())
	localURL := fmt.Sprintf("redis://127.0.0.1:%d/0", foreign.Port) // nothing listens there here
	ta := startAgent(t, WithDiscover(), WithDiscoverEvery(1), WithRedis(localURL, local.URL()))
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		if len(byAttr(m[metricProcessConnections], attrProcessPID, strconv.Itoa(near.pid))) == 0 {
			return errors.New("the helper beside the agent is not discovered yet")
		}
		if got := byAttr(m[metricMemoryUsage], attrProcessPID, strconv.Itoa(h.pid)); len(got) != 0 {
			t.Fatalf("the helper's connections to its own namespace's 127.0.0.1:%d were counted for the agent's", foreign.Port)
		}
		return nil
	})
}

// FuzzParseNetNSLink: a namespace link gives a non-zero inode that is in
// the text, or an error quoting at most a clipped excerpt.
func FuzzParseNetNSLink(f *testing.F) {
	if link, err := os.Readlink("/proc/self/ns/net"); err == nil {
		f.Add(link)
	}
	for _, s := range []string{"", "net:[", "net:[]", "net:[0]", "net:[-1]", "net:[18446744073709551616]", "mnt:[4026531840]", "net:[1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, link string) {
		n, err := parseNetNSLink(link)
		switch {
		case err == nil && (n == 0 || !strings.Contains(link, strconv.FormatUint(n, 10))):
			t.Fatalf("%q gave %d", link, n)
		case err != nil && len(err.Error()) > 400: // a clipped excerpt, escaped by %q
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	})
}

// A namespace's first process that exits before its table is read hands
// over to the next one, without a warning: /proc/PID/net vanishing
// mid-pass is ordinary.
func TestNamespaceTableSurvivesExitedProcess(t *testing.T) {
	logs := &redistest.Buffer{}
	a := &Agent{cfg: newConfig(nil), procRoot: "/proc", problems: newProblems(slog.New(slog.NewTextHandler(logs, nil)))}
	own, err := netNamespace("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	rows, ok := a.namespaceTCP(own, []int{exited.Process.Pid, os.Getpid()})
	if !ok || rows == nil {
		t.Fatalf("namespaceTCP = %d rows, %v; want the table through the live process", len(rows), ok)
	}
	if _, ok := a.namespaceTCP(own, []int{exited.Process.Pid}); ok || logs.String() != "" {
		t.Fatalf("a namespace whose only process exited: ok %v, log %q; want not ok and no warning", ok, logs.String())
	}
}
