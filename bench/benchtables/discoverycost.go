package benchtables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/internal/redisserver"
)

// The discovery-cost table: what counting connections costs when the
// agent reads each process's own socket table (/proc/PID/net/tcp{,6}, so
// that processes in other network namespaces are counted) rather than one
// table for its own namespace (/proc/net/tcp{,6}, the global read). The
// holders, HolderName processes each holding one TCP connection to a
// local redis-server, run in one network namespace (the harness's) or are
// spread over several namespaces the table makes (the DaemonSet case: a
// pod each). Each layout is measured twice: the table reads alone,
// in-process, for each way of reading; and the agent binary itself with
// discovery at every pass.

// HolderName is the executable and command name of the holder processes
// (a copy of sleep(1) that inherits the connection from the bash that
// opened it).
const HolderName = "psbench-hold"

// holderLifetime bounds each holder's life, whatever happens to the
// harness.
const holderLifetime = "600"

// Ways of reading, in table order.
const (
	ReadGlobal       = "global /proc/net/tcp{,6}"
	ReadPerNamespace = "per namespace (agent)"
	ReadPerProcess   = "per process, no dedupe"
	ReadAgentPass    = "agent pass, discover-every 1"
)

// DiscoveryCostConfig describes a discovery-cost run.
type DiscoveryCostConfig struct {
	// Processes is the number of holders in each layout.
	Processes int
	// Namespaces is the number of network namespaces of the spread layout
	// (the holders are shared out evenly).
	Namespaces int
	// Passes is the number of passes of each in-process way of reading
	// (but one of the per-process read).
	Passes int
	// Window is how long the agent's CPU time is counted in each layout,
	// at a 1s interval with discovery at every pass.
	Window time.Duration
	// Poolscope is the poolscope binary.
	Poolscope string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// DiscoveryCostRow is one way of reading in one layout.
type DiscoveryCostRow struct {
	Namespaces int // the holders' network namespaces
	Processes  int // holders
	Read       string
	Tables     int // socket tables (tcp and tcp6 as one) read per pass
	Rows       int // their rows per pass; -1: not counted (the agent)
	Passes     float64
	CPU        time.Duration // per pass (utime+stime)
	Wall       time.Duration // per pass; 0: not measured (the agent)
	Seen       int           // the agent: holders it reported; -1 otherwise
	Load       string        // /proc/loadavg's first three fields after the measurement
}

// CPUPerProcess is the CPU time per pass per holder.
func (r DiscoveryCostRow) CPUPerProcess() time.Duration { return r.CPU / time.Duration(r.Processes) }

// DiscoveryCost measures both layouts: every holder in the harness's own
// network namespace, then spread over cfg.Namespaces namespaces.
func DiscoveryCost(ctx context.Context, cfg DiscoveryCostConfig) ([]DiscoveryCostRow, error) {
	if cfg.Processes < 1 || cfg.Namespaces < 1 || cfg.Passes < 1 || cfg.Window < time.Second || cfg.Poolscope == "" {
		return nil, fmt.Errorf("benchtables: discovery cost: processes %d, namespaces %d, passes %d, window %s: want positive counts, a window of at least 1s and the poolscope binary",
			cfg.Processes, cfg.Namespaces, cfg.Passes, cfg.Window)
	}
	dir, err := os.MkdirTemp("", "poolscope-bench-discovery-")
	if err != nil {
		return nil, fmt.Errorf("benchtables: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bin, err := copySleep(dir, HolderName)
	if err != nil {
		return nil, err
	}
	var rows []DiscoveryCostRow
	for _, spread := range []bool{false, true} {
		r, err := discoveryCostIn(ctx, cfg, bin, spread)
		rows = append(rows, r...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// discoveryCostIn sets one layout up, measures it and takes it down.
func discoveryCostIn(ctx context.Context, cfg DiscoveryCostConfig, bin string, spread bool) ([]DiscoveryCostRow, error) {
	var l *layout
	var err error
	if spread {
		logf(cfg.Log, "discovery cost: %d network namespaces and a bridge", cfg.Namespaces)
		l, err = spreadLayout(cfg.Namespaces)
	} else {
		l, err = ownLayout()
	}
	defer l.close()
	if err != nil {
		return nil, err
	}
	logf(cfg.Log, "discovery cost: %d holders in %d network namespace(s)", cfg.Processes, max(1, len(l.namespaces)))
	pids, err := l.startHolders(ctx, bin, cfg.Processes)
	if err != nil {
		return nil, err
	}
	rows, err := measureReads(pids, cfg.Passes)
	if err != nil {
		return nil, err
	}
	agent, err := measureAgent(ctx, cfg, l.srv.URL())
	if err != nil {
		return rows, err
	}
	rows = append(rows, agent)
	for i := range rows {
		rows[i].Namespaces, rows[i].Processes = max(1, len(l.namespaces)), cfg.Processes
	}
	return rows, nil
}

// layout is where the holders and their server run.
type layout struct {
	namespaces []string // the holders' namespaces; none: the harness's own
	srv        *redisserver.Server
	spawners   []*harness.Process
	undo       []func() // in reverse order at close
}

// ownLayout is a server on the harness's loopback, the holders beside it.
func ownLayout() (*layout, error) {
	l := &layout{}
	srv, err := redisserver.Start(redisserver.Options{})
	if err != nil {
		return l, err
	}
	l.srv = srv
	l.undo = append(l.undo, func() { _ = srv.Close() })
	return l, nil
}

// Addresses of the spread layout, inside the namespaces it makes only:
// the server's bridge at bridgeIP, holder namespace i at 10.251.(i/250+1).(i%250+1).
const (
	bridgeIP  = "10.251.0.1"
	bridgeNet = "/16"
)

// spreadLayout makes a server namespace with a bridge, n holder
// namespaces each joined to the bridge by a veth pair, and starts the
// server on the bridge's address. Nothing is added to the harness's own
// namespace.
func spreadLayout(n int) (*layout, error) {
	l := &layout{}
	pid := os.Getpid()
	srvNS := fmt.Sprintf("psbench-%d-srv", pid)
	if err := l.addNamespace(srvNS); err != nil {
		return l, err
	}
	if err := ipRun("-n", srvNS, "link", "add", "br0", "type", "bridge"); err != nil {
		return l, err
	}
	if err := ipSteps([][]string{
		{"-n", srvNS, "addr", "add", bridgeIP + bridgeNet, "dev", "br0"},
		{"-n", srvNS, "link", "set", "br0", "up"},
	}); err != nil {
		return l, err
	}
	for i := range n {
		ns := fmt.Sprintf("psbench-%d-%d", pid, i)
		if err := l.addNamespace(ns); err != nil {
			return l, err
		}
		veth := fmt.Sprintf("pb%dv%d", pid%100000, i) // at most 15 bytes
		ip := fmt.Sprintf("10.251.%d.%d", i/250+1, i%250+1)
		if err := ipSteps([][]string{
			{"-n", srvNS, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"-n", srvNS, "link", "set", veth, "master", "br0", "up"},
			{"-n", ns, "addr", "add", ip + bridgeNet, "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
		}); err != nil {
			return l, err
		}
		l.namespaces = append(l.namespaces, ns)
	}
	srv, err := redisserver.Start(redisserver.Options{NetNS: srvNS, Host: bridgeIP})
	if err != nil {
		return l, err
	}
	l.srv = srv
	l.undo = append(l.undo, func() { _ = srv.Close() })
	return l, nil
}

// addNamespace makes a network namespace with its loopback up, deleted at
// close.
func (l *layout) addNamespace(name string) error {
	if err := ipRun("netns", "add", name); err != nil {
		return err
	}
	l.undo = append(l.undo, func() { _ = ipRun("netns", "del", name) })
	return ipRun("-n", name, "link", "set", "lo", "up")
}

func ipSteps(steps [][]string) error {
	for _, s := range steps {
		if err := ipRun(s...); err != nil {
			return err
		}
	}
	return nil
}

func ipRun(args ...string) error {
	cmd := exec.Command("ip", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("benchtables: ip %s: %v: %s (the spread layout makes network namespaces: run as root)",
			strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// holdScript starts $1 holders, each a subshell that opens a TCP connection
// to $2:$3 on fd 3 and execs $4 (sleep) with it, then waits for them.
const holdScript = `for ((i = 0; i < $1; i++)); do (exec 3<>"/dev/tcp/$2/$3" && exec "$4" ` + holderLifetime + `) & done; wait`

// startHolders starts n holders, shared out over the layout's namespaces,
// and waits until every one is connected; it returns their pids.
func (l *layout) startHolders(ctx context.Context, bin string, n int) ([]int, error) {
	groups := l.namespaces
	if len(groups) == 0 {
		groups = []string{""}
	}
	host, port := l.srv.Host, strconv.Itoa(l.srv.Port)
	for i, ns := range groups {
		count := n / len(groups)
		if i < n%len(groups) {
			count++
		}
		args := []string{"bash", "-c", holdScript, "hold", strconv.Itoa(count), host, port, bin}
		if ns != "" {
			args = append([]string{"ip", "netns", "exec", ns}, args...)
		}
		p, err := startChild("holders "+ns, args[0], args[1:], nil)
		if err != nil {
			return nil, err
		}
		l.spawners = append(l.spawners, p)
	}
	var pids []int
	err := harness.Poll(ctx, 2*time.Minute, func() error {
		var err error
		if pids, err = processesNamed(HolderName); err != nil {
			return err
		}
		st, err := readStats(ctx, l.srv)
		if err != nil {
			return err
		}
		if len(pids) != n || st.clients < int64(n) {
			return fmt.Errorf("%d of %d holders started, the server has %d clients", len(pids), n, st.clients)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("benchtables: holders: %w", err)
	}
	return pids, nil
}

// close kills the holders, stops the server and deletes the namespaces.
func (l *layout) close() {
	for _, p := range l.spawners {
		p.Kill() // the holders are in the spawner's process group
	}
	for _, p := range l.spawners {
		<-p.Exited()
	}
	for i := len(l.undo) - 1; i >= 0; i-- {
		l.undo[i]()
	}
}

// processesNamed lists the live pids whose command name is name (a
// killed holder not yet reaped is left out).
func processesNamed(name string) ([]int, error) {
	all, err := procfs.AllProcs()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, p := range all {
		if comm, err := p.Comm(); err != nil || comm != name {
			continue
		}
		if st, err := p.Stat(); err == nil && st.State != "Z" {
			pids = append(pids, p.PID)
		}
	}
	return pids, nil
}

// readWay is one way of reading the socket tables that count pids'
// connections: it returns the tables and rows it read.
// Reading every process's tables costs a second or more a pass at a
// thousand processes: it runs once (onePass), to keep the run short.
type readWay struct {
	name    string
	pass    func(pids []int) (tables, rows int, err error)
	onePass bool
}

var readWays = []readWay{{ReadGlobal, readGlobal, false}, {ReadPerNamespace, readPerNamespace, false}, {ReadPerProcess, readPerProcess, true}}

// measureReads runs each way of reading passes times over pids, in this
// process, and reports its CPU and wall time per pass. A failed pass (a
// holder gone mid-read) fails the table: its time would be a partial
// pass's.
func measureReads(pids []int, passes int) ([]DiscoveryCostRow, error) {
	rows := make([]DiscoveryCostRow, 0, len(readWays)+1)
	for _, w := range readWays {
		passes := passes
		if w.onePass {
			passes = 1
		}
		runtime.GC()
		cpu0, wall0 := processCPU(), time.Now()
		tables, n := 0, 0
		for range passes {
			t, r, err := w.pass(pids)
			if err != nil {
				return nil, fmt.Errorf("benchtables: %s: %w", w.name, err)
			}
			tables, n = t, r
		}
		wall, cpu := time.Since(wall0), processCPU()-cpu0
		rows = append(rows, DiscoveryCostRow{Read: w.name, Tables: tables, Rows: n, Passes: float64(passes),
			CPU: cpu / time.Duration(passes), Wall: wall / time.Duration(passes), Seen: -1, Load: loadavg()})
	}
	return rows, nil
}

// readGlobal reads the reader's own namespace's tables only.
func readGlobal([]int) (int, int, error) {
	n, err := readTables(procfs.DefaultMountPoint)
	return 1, n, err
}

// readPerNamespace is what discovery does: each pid's namespace from its
// /proc/PID/ns/net link, then each namespace's tables once, through the
// first of its pids.
func readPerNamespace(pids []int) (int, int, error) {
	seen := map[string]bool{}
	var first []int
	for _, pid := range pids {
		link, err := os.Readlink(filepath.Join(procfs.DefaultMountPoint, strconv.Itoa(pid), "ns", "net"))
		if err != nil {
			return 0, 0, err
		}
		if !seen[link] {
			seen[link] = true
			first = append(first, pid)
		}
	}
	return readPerProcess(first)
}

// readPerProcess reads every pid's tables, sharing nothing.
func readPerProcess(pids []int) (int, int, error) {
	rows := 0
	for _, pid := range pids {
		n, err := readTables(filepath.Join(procfs.DefaultMountPoint, strconv.Itoa(pid)))
		if err != nil {
			return 0, 0, err
		}
		rows += n
	}
	return len(pids), rows, nil
}

// readTables parses DIR/net/tcp and tcp6 (DIR: /proc or /proc/PID) as the
// agent does, and counts their rows.
func readTables(dir string) (int, error) {
	fs, err := procfs.NewFS(dir)
	if err != nil {
		return 0, err
	}
	v4, err := fs.NetTCP()
	if err != nil {
		return 0, err
	}
	v6, err := fs.NetTCP6()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	return len(v4) + len(v6), nil
}

// processCPU is this process's utime+stime.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureAgent runs the agent with discovery at every pass (1s interval)
// on the server at url, waits until it reports every holder, and counts
// its CPU time over the window. It runs in the harness's network
// namespace: in the spread layout it cannot reach the server (a node's
// agent and a server elsewhere), which discovery does not need.
func measureAgent(ctx context.Context, cfg DiscoveryCostConfig, url string) (DiscoveryCostRow, error) {
	row := DiscoveryCostRow{Read: ReadAgentPass, Rows: -1}
	port, err := redisserver.FreePort()
	if err != nil {
		return row, err
	}
	p, err := startChild("poolscope agent", cfg.Poolscope,
		[]string{"agent", "--discover", "--discover-every", "1", "--interval", "1s", "--redis", url,
			"--client-list-every", "1000", "--log-level", "error"},
		[]string{"OTEL_METRICS_EXPORTER=prometheus", "OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1",
			"OTEL_EXPORTER_PROMETHEUS_PORT=" + strconv.Itoa(port)})
	if err != nil {
		return row, err
	}
	defer func() { _ = p.Stop() }()
	metrics := "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	seen := func() error {
		k, err := scrapeProcessCount(ctx, metrics, HolderName)
		if err == nil && k != cfg.Processes {
			err = fmt.Errorf("the agent reports %d of %d holders", k, cfg.Processes)
		}
		return err
	}
	if err := p.WaitReady(ctx, 2*time.Minute, seen); err != nil {
		return row, fmt.Errorf("benchtables: %s: %w\n%s", p.Name, err, p.LogTail(10))
	}
	logf(cfg.Log, "discovery cost: the agent reports every holder; measuring for %s", cfg.Window)
	row.Tables = namespaceCount()
	before, err := readUsage(p.Pid())
	if err != nil {
		return row, err
	}
	if err := measurementWindow(ctx, cfg.Window); err != nil {
		return row, err
	}
	after, err := readUsage(p.Pid())
	if err != nil {
		return row, err
	}
	row.Passes = cfg.Window.Seconds()
	row.CPU = time.Duration((after.cpu - before.cpu) / row.Passes * float64(time.Second))
	row.Load = loadavg()
	if err := seen(); err != nil {
		return row, fmt.Errorf("benchtables: after the window: %w", err)
	}
	row.Seen = cfg.Processes
	return row, nil
}

// namespaceCount is the number of network namespaces the machine's
// processes are in: the tables the agent reads at each discovery pass.
func namespaceCount() int {
	all, err := procfs.AllProcs()
	if err != nil {
		return 0
	}
	seen := map[string]bool{}
	for _, p := range all {
		if link, err := os.Readlink(filepath.Join(procfs.DefaultMountPoint, strconv.Itoa(p.PID), "ns", "net")); err == nil {
			seen[link] = true
		}
	}
	return len(seen)
}

// loadavg is /proc/loadavg's first three fields ("" when unreadable).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// PrintDiscoveryCost prints the discovery-cost table.
func PrintDiscoveryCost(w io.Writer, rows []DiscoveryCostRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\ndiscovery cost: %d idle %q processes, each holding one TCP connection to a redis-server, in one network namespace\n", rows[0].Processes, HolderName)
	fmt.Fprintf(w, "(the harness's) or spread over several (a bridge in a server namespace); reads: in-process over the holders' pids;\n")
	fmt.Fprintf(w, "agent pass: the agent's CPU per 1s pass with --discover-every 1 (every process's fds and the tables of every namespace\n")
	fmt.Fprintf(w, "on the machine: tables = namespaces); the global read misses the holders of other namespaces (rows)\n\n")
	fmt.Fprintf(w, "%-6s %9s %-30s %7s %7s %7s %12s %12s %12s %8s %s\n",
		"netns", "processes", "read", "tables", "rows", "passes", "CPU ms/pass", "wall ms/pass", "CPU us/proc", "seen", "loadavg")
	for _, r := range rows {
		rowsText, wallText, seenText := strconv.Itoa(r.Rows), fmt.Sprintf("%.2f", ms(r.Wall)), strconv.Itoa(r.Seen)
		if r.Rows < 0 {
			rowsText = "-"
		}
		if r.Wall == 0 {
			wallText = "-"
		}
		if r.Seen < 0 {
			seenText = "-"
		}
		fmt.Fprintf(w, "%-6d %9d %-30s %7d %7s %7.0f %12.2f %12s %12.2f %8s %s\n",
			r.Namespaces, r.Processes, r.Read, r.Tables, rowsText, r.Passes, ms(r.CPU), wallText,
			float64(r.CPUPerProcess().Nanoseconds())/1e3, seenText, r.Load)
	}
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
