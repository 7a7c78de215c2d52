package agent

import (
	"log/slog"
	"os"
	"strconv"
	"testing"

	"github.com/prometheus/procfs"
	"go.opentelemetry.io/otel/metric/noop"
)

// BenchmarkSamplePass is one regular (not discovery) pass over one process:
// its statm read and the snapshot the metrics callback reads. Compare with
// BenchmarkStatmOnce, the bare read: the target is within 2x.
func BenchmarkSamplePass(b *testing.B) {
	a := benchAgent(b)
	b.ReportAllocs()
	for b.Loop() {
		a.sampleProcesses()
	}
	if ps := a.procs.Load(); ps == nil || len(*ps) != 1 {
		b.Fatal("the pass did not sample the process")
	}
}

// BenchmarkStatmOnce reads /proc/self/statm once through procfs.
func BenchmarkStatmOnce(b *testing.B) {
	p, err := procfs.Self()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Statm(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiscoveryPass is the expensive pass at the lower rate: socket
// tables and every process's fds (no server connections here, so the fd
// scan is skipped; the tables are still read).
func BenchmarkDiscoveryPass(b *testing.B) {
	a := benchAgent(b)
	s, err := newServer("redis://127.0.0.1:1/0", nil)
	if err != nil {
		b.Fatal(err)
	}
	a.setServers([]*server{s})
	a.cfg.discover = true
	b.ReportAllocs()
	for b.Loop() {
		a.refreshProcesses(b.Context())
	}
}

func benchAgent(b *testing.B) *Agent {
	b.Helper()
	cfg := newConfig([]Option{WithSelf(), WithMeterProvider(noop.NewMeterProvider())})
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	a := &Agent{cfg: cfg, logger: logger, problems: newProblems(logger), procRoot: procfs.DefaultMountPoint,
		fs: fs, tracked: map[int]*trackedProcess{}}
	a.refreshProcesses(b.Context())
	if _, ok := a.tracked[os.Getpid()]; !ok {
		b.Fatal("self not selected")
	}
	return a
}

// BenchmarkNetNamespaceOf is discovery's per-process price for reading
// every namespace's own socket table: one readlink of /proc/PID/ns/net.
// A pass over N processes in K namespaces costs N of these plus K of
// BenchmarkNamespaceTCPTables; the global read it replaced cost one table.
func BenchmarkNetNamespaceOf(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := netNamespace(procfs.DefaultMountPoint, pid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNamespaceTCPTables reads one namespace's tcp and tcp6 tables
// through /proc/PID/net (this process's: the host's table here).
func BenchmarkNamespaceTCPTables(b *testing.B) {
	dir := procfs.DefaultMountPoint + "/" + strconv.Itoa(os.Getpid())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readTCPTables(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGlobalTCPTables is the read that discovery did before: the
// reader's own namespace, /proc/net/tcp and tcp6.
func BenchmarkGlobalTCPTables(b *testing.B) {
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fs.NetTCP(); err != nil {
			b.Fatal(err)
		}
		if _, err := fs.NetTCP6(); err != nil {
			b.Fatal(err)
		}
	}
}
