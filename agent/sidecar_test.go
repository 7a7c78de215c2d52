package agent

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// sidecarEnv marks the run of TestSidecarLayout inside its PID namespace;
// its value is "URL HOSTPID": the server, and the pid (outside) of a
// process on the host connected to it.
const sidecarEnv = "POOLSCOPE_AGENT_SIDECAR"

// The sidecar layout: a workload and the agent share a PID namespace that
// the host's other processes are not in (a pod with shareProcessNamespace).
// The test runs itself again under `unshare --pid --fork --mount-proc` (a
// new PID namespace with a /proc of its own, the network namespace
// shared, as in a pod); there, as pid 1, it starts a workload holding 3
// connections and an agent with discovery. The agent finds the workload by
// its pid in the namespace, its RSS and VMS match the namespace's
// /proc/PID/statm, its connection count matches CLIENT LIST; a process on
// the host holding 2 connections to the same server is not seen.
func TestSidecarLayout(t *testing.T) {
	if spec, ok := os.LookupEnv(sidecarEnv); ok {
		sidecarInside(t, spec)
		return
	}
	s := redistest.Start(t, redisserver.Options{})
	host := startHelper(t, "2="+s.URL())
	ctx := redistest.Context(t, 2*time.Minute)
	// --kill-child: the namespace's pid 1 (and with it every process in the
	// namespace) dies with unshare; unshare dies with the test binary.
	cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
		os.Args[0], "-test.run=^TestSidecarLayout$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), sidecarEnv+"="+s.URL()+" "+strconv.Itoa(host.pid))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSidecarLayout") {
		t.Fatalf("the test inside a new PID namespace: %v (it makes the namespace with unshare and needs root, as on CI; id: %s)\n%s",
			err, idString(), out)
	}
}

// sidecarInside is TestSidecarLayout inside the PID namespace.
func sidecarInside(t *testing.T, spec string) {
	url, hostText, _ := strings.Cut(spec, " ")
	hostPID, err := strconv.Atoi(hostText)
	if err != nil {
		t.Fatalf("%s=%q: want URL HOSTPID", sidecarEnv, spec)
	}
	if os.Getpid() != 1 {
		t.Fatalf("pid %d inside the namespace, want 1 (its first process)", os.Getpid())
	}
	if _, err := os.Stat("/proc/" + hostText); err == nil {
		t.Fatalf("the host's process %d is visible in this namespace's /proc", hostPID)
	}
	w := startHelper(t, "3="+url)
	ta := startAgent(t, WithDiscover(), WithDiscoverEvery(1), WithRedis(url))
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(o)
	t.Cleanup(func() { _ = admin.Close() })

	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		if err := sidecarProcesses(m, w.pid); err != nil {
			return err
		}
		if err := memoryMatchesStatm(m, w.pid); err != nil {
			return err
		}
		list, err := admin.ClientList(t.Context()).Result()
		if err != nil {
			return err
		}
		byName := redisserver.CountByName(list)
		if n := byName[pools.ClientName("svc", pools.Master, hostPID)]; n != 2 {
			return fmt.Errorf("CLIENT LIST shows %d connections of the host's process, want 2", n)
		}
		conns := byAttr(m[metricProcessConnections], attrProcessPID, strconv.Itoa(w.pid))
		name := pools.ClientName("svc", pools.Master, w.pid)
		if len(conns) != 1 || conns[0].value != int64(byName[name]) || byName[name] != 3 {
			return fmt.Errorf("agent's connection points for the workload %v, CLIENT LIST %d for %q; want 3 both", conns, byName[name], name)
		}
		return nil
	})
}

// sidecarProcesses checks the processes the agent reports: the workload,
// and at most the namespace's pid 1 (this test, whose CLIENT LIST client
// is a connection to the server like any other), nothing else.
func sidecarProcesses(m map[string][]point, workload int) error {
	var pids []int
	for _, p := range m[metricMemoryUsage] {
		pids = append(pids, int(p.int(attrProcessPID)))
	}
	slices.Sort(pids)
	if !slices.Contains(pids, workload) {
		return fmt.Errorf("agent reports pids %v; the workload (%d) is not among them yet", pids, workload)
	}
	for _, pid := range pids {
		if pid != workload && pid != 1 {
			return fmt.Errorf("agent reports pids %v, want the workload %d and at most pid 1", pids, workload)
		}
	}
	return nil
}
