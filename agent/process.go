package agent

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// trackedProcess is a selected process. It is owned by the process
// goroutine; its attribute sets are built once, when it is selected.
type trackedProcess struct {
	proc procfs.Proc
	exe  string
	// procAttrs are process.pid, process.executable.name and, when its
	// cgroup names them, container.id and k8s.pod.uid; attrs is their set.
	procAttrs []attribute.KeyValue
	attrs     metric.MeasurementOption
	// conns are the connection counts of the last discovery pass (nil when
	// the process's fds could not be read); the slice is replaced, never
	// changed, so snapshots can share it.
	conns []connSample
}

// runProcesses samples the selected processes until ctx ends: their
// memory at every pass, the selection and connection counts at every
// discoverEvery-th pass (the first included).
func (a *Agent) runProcesses(ctx context.Context) {
	defer a.procs.Store(nil)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for pass := 0; ; pass++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if pass%a.cfg.discoverEvery == 0 {
			a.refreshProcesses(ctx)
		}
		a.sampleProcesses()
		timer.Reset(a.cfg.interval)
	}
}

// sampleProcesses reads every tracked process's memory and publishes the
// snapshot. A process that has exited (or become unreadable) is dropped at
// once, so its series end with it.
func (a *Agent) sampleProcesses() {
	samples := make([]processSample, 0, len(a.tracked))
	for pid, t := range a.tracked {
		st, err := readStatm(a.procRoot, pid)
		if err != nil {
			a.dropProcess(pid, "statm", err)
			continue
		}
		s := processSample{
			attrs: t.attrs,
			rss:   st.resident,
			vms:   st.size,
			conns: t.conns,
		}
		if a.cfg.pss {
			if r, err := t.proc.ProcSMapsRollup(); err == nil {
				s.pss, s.hasPSS = int64(r.Pss), true
			} else if !gone(err) {
				a.problems.warn("pid "+strconv.Itoa(pid)+" pss", "agent: cannot read smaps_rollup; PSS is not reported for the process",
					"pid", pid, "error", err)
			}
		}
		samples = append(samples, s)
	}
	a.procs.Store(&samples)
}

func (a *Agent) dropProcess(pid int, what string, err error) {
	delete(a.tracked, pid)
	if gone(err) {
		a.logger.Debug("agent: process exited; no longer reported", "pid", pid)
		a.problems.resolve("pid "+strconv.Itoa(pid)+" ", "")
		return
	}
	a.problems.warn("pid "+strconv.Itoa(pid)+" "+what, "agent: cannot read the process; it is not reported",
		"pid", pid, "error", err)
}

// gone reports whether err says that the process no longer exists.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// refreshProcesses rebuilds the selection: the agent itself, the given pids,
// the pidfile's process, the processes matching the pattern and, with
// discovery, every process connected to a server; then counts each one's
// connections to each server. The socket tables read are those of the
// network namespaces of the processes looked at: every process with
// discovery, the selected ones without.
func (a *Agent) refreshProcesses(ctx context.Context) {
	a.passServers = a.serverList()
	want := a.namedProcesses()
	all := a.allProcesses()
	a.selectMatching(all, want)
	var idx socketIndex
	if len(a.passServers) > 0 {
		idx = a.socketIndex(ctx, a.namespaceMembers(a.lookedAt(all, want)))
	}
	counts := a.discoverConnected(all, want, idx)
	a.track(want, idx, counts)
}

// namedProcesses are the processes selected by id: WithSelf, WithPIDs (those
// that exist) and WithPIDFile.
func (a *Agent) namedProcesses() map[int]bool {
	want := map[int]bool{}
	if a.cfg.self {
		want[a.selfPID()] = true
	}
	for _, pid := range a.cfg.pids {
		if _, err := os.Stat(filepath.Join(a.procRoot, strconv.Itoa(pid))); err != nil {
			a.problems.warn("pid "+strconv.Itoa(pid)+" missing", "agent: process not found; it is not reported", "pid", pid, "error", err)
			continue
		}
		want[pid] = true
	}
	if a.cfg.pidFile != "" {
		if pid, err := readPIDFile(a.cfg.pidFile); err != nil {
			a.problems.warn("pidfile "+a.cfg.pidFile, "agent: cannot use the pid file", "file", a.cfg.pidFile, "error", err)
		} else {
			a.problems.resolve("pidfile "+a.cfg.pidFile, "agent: pid file usable again", "file", a.cfg.pidFile)
			want[pid] = true
		}
	}
	return want
}

// selfPID is the agent's process id as the proc root numbers it: a /proc
// mounted from the host's PID namespace (WithProcRoot) gives the agent
// another id than its own namespace does. "self" in that mount says which.
func (a *Agent) selfPID() int {
	if link, err := os.Readlink(filepath.Join(a.procRoot, "self")); err == nil {
		if pid, err := strconv.Atoi(link); err == nil && pid > 0 {
			return pid
		}
	}
	return os.Getpid()
}

// allProcesses lists every process, for WithMatch and WithDiscover; nil
// without them.
func (a *Agent) allProcesses() procfs.Procs {
	if !a.cfg.discover && a.cfg.match == nil {
		return nil
	}
	all, err := a.fs.AllProcs()
	if err != nil {
		a.problems.warn("proc list", "agent: cannot list processes", "error", err)
	}
	return all
}

// selectMatching adds the processes matching WithMatch to want.
func (a *Agent) selectMatching(all procfs.Procs, want map[int]bool) {
	if a.cfg.match == nil {
		return
	}
	for _, p := range all {
		if a.matches(p) {
			want[p.PID] = true
		}
	}
}

// lookedAt are the processes whose connections are counted: every process
// with discovery, else the selected ones.
func (a *Agent) lookedAt(all procfs.Procs, want map[int]bool) []int {
	pids := make([]int, 0, len(want)+len(all))
	for pid := range want {
		pids = append(pids, pid)
	}
	if a.cfg.discover {
		for _, p := range all {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// discoverConnected, with WithDiscover, counts every process's connections,
// adds the connected ones to want and returns their counts (by pid).
func (a *Agent) discoverConnected(all procfs.Procs, want map[int]bool, idx socketIndex) map[int][]int64 {
	counts := map[int][]int64{}
	if !a.cfg.discover || len(idx) == 0 {
		return counts
	}
	denied := 0
	for _, p := range all {
		c, err := countConnections(p, idx, len(a.passServers))
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				denied++
			}
			continue
		}
		if total(c) > 0 {
			want[p.PID] = true
			counts[p.PID] = c
		}
	}
	if denied > 0 {
		a.problems.report(slog.LevelInfo, "discover permission",
			"agent: discovery cannot read the file descriptors of some processes (other users'); run the agent as their user, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (both: the second opens /proc/PID/fd, the first passes its ptrace check), to see them",
			"processes", denied)
	}
	return counts
}

// track replaces the tracked processes with want, keeping the attribute
// sets of those already tracked, and fills in their connection counts.
func (a *Agent) track(want map[int]bool, idx socketIndex, counts map[int][]int64) {
	next := make(map[int]*trackedProcess, len(want))
	for pid := range want {
		p, err := a.fs.Proc(pid)
		if err != nil {
			continue // exited meanwhile
		}
		exe := executableName(p)
		if exe == "" {
			continue // exited meanwhile
		}
		t := a.tracked[pid]
		if t == nil || t.exe != exe {
			t = a.newTrackedProcess(p, exe)
		}
		t.conns = nil
		if len(a.passServers) > 0 {
			if c := a.processConnections(p, idx, counts); c != nil {
				t.conns = a.connSamples(t.procAttrs, c)
			}
		}
		next[pid] = t
	}
	a.tracked = next
}

// newTrackedProcess builds a newly selected process's attributes, the
// container and pod ids of its cgroup included. An unreadable cgroup file
// costs those two attributes only, and is said once.
func (a *Agent) newTrackedProcess(p procfs.Proc, exe string) *trackedProcess {
	kv := []attribute.KeyValue{attrProcessPID.Int(p.PID), attrExecutableName.String(exe)}
	ids, err := readCgroup(a.procRoot, p.PID)
	if err != nil && !gone(err) {
		a.problems.warn("pid "+strconv.Itoa(p.PID)+" cgroup", "agent: cannot read the process's cgroup; container.id and k8s.pod.uid are not reported for it",
			"pid", p.PID, "error", err)
	}
	if ids.containerID != "" {
		kv = append(kv, attrContainerID.String(ids.containerID))
	}
	if ids.podUID != "" {
		kv = append(kv, attrPodUID.String(ids.podUID))
	}
	return &trackedProcess{proc: p, exe: exe, procAttrs: kv, attrs: metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// processConnections is a process's connection count per server: from
// discovery when it read them, else read now; nil when unreadable.
func (a *Agent) processConnections(p procfs.Proc, idx socketIndex, counts map[int][]int64) []int64 {
	if c, ok := counts[p.PID]; ok {
		return c
	}
	c, err := countConnections(p, idx, len(a.passServers))
	if err != nil {
		if !gone(err) {
			a.problems.warn("pid "+strconv.Itoa(p.PID)+" fds", "agent: cannot read the process's file descriptors; its connections are not reported",
				"pid", p.PID, "error", err)
		}
		return nil
	}
	return c
}

// connSamples builds one sample per server for a process's counts.
func (a *Agent) connSamples(procAttrs []attribute.KeyValue, counts []int64) []connSample {
	out := make([]connSample, len(counts))
	for i, n := range counts {
		kv := append(slices.Clip(procAttrs), a.passServers[i].attrs...)
		out[i] = connSample{attrs: metric.WithAttributeSet(attribute.NewSet(kv...)), n: n}
	}
	return out
}

// matches reports whether the pattern matches the process's command name
// or its command line (arguments joined by spaces).
func (a *Agent) matches(p procfs.Proc) bool {
	if comm, err := p.Comm(); err == nil && a.cfg.match.MatchString(comm) {
		return true
	}
	args, err := p.CmdLine()
	return err == nil && len(args) > 0 && a.cfg.match.MatchString(strings.Join(args, " "))
}

// executableName is the base name of /proc/PID/exe, as the semantic
// conventions ask, or the command name when exe is unreadable (another
// user's process); "" when the process is gone.
func executableName(p procfs.Proc) string {
	if exe, err := p.Executable(); err == nil && exe != "" {
		return strings.TrimSuffix(filepath.Base(exe), " (deleted)")
	}
	comm, err := p.Comm()
	if err != nil {
		return ""
	}
	return comm
}

// readPIDFile reads a pid file: one positive integer, surrounding space
// allowed.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, errors.New("content " + strconv.Quote(clip(s)) + " is not a process id")
	}
	return pid, nil
}

func total(c []int64) int64 {
	var n int64
	for _, x := range c {
		n += x
	}
	return n
}
