package agent

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/procfs"
)

// The agent's own parsers of kernel data (sock_diag messages, fd links, pid
// files) and its use of prometheus/procfs on /proc files that may be
// truncated or malformed (a process exiting mid-read, an unusual kernel):
// each gives an error or skips, never panics. Seeds are real: captured from
// this machine's kernel when the test starts.

// captureUnixDiag opens a listening unix socket and a connection to it,
// then asks the kernel for its sock_diag dump (as unixPeers does)
// and returns the raw unix_diag_msg bodies.
func captureUnixDiag(tb testing.TB) [][]byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	accepted, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	defer accepted.Close()

	var bodies [][]byte
	if err := dumpUnixDiag(func(msg []byte) { bodies = append(bodies, append([]byte(nil), msg...)) }); err != nil {
		tb.Fatal(err)
	}
	return bodies
}

// FuzzParseUnixDiagMsg: any message gives a name without NUL bytes and a
// peer, never a panic; the real messages name our socket path.
func FuzzParseUnixDiagMsg(f *testing.F) {
	real := captureUnixDiag(f)
	if len(real) == 0 {
		f.Fatal("the kernel's sock_diag dump is empty: the test's own sockets are missing")
	}
	for i, b := range real {
		if i >= 8 {
			break
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:unixDiagMsgLen+2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, peer := parseUnixDiagMsg(b)
		if strings.IndexByte(name, 0) >= 0 {
			t.Fatalf("name %q holds a NUL byte", name)
		}
		if len(b) < unixDiagMsgLen && (name != "" || peer != 0) {
			t.Fatalf("a %d-byte message gave name %q peer %d", len(b), name, peer)
		}
	})
}

// TestParseUnixDiagMsgRealDump: the parser finds the test's own accepted
// socket, by path, with a peer.
func TestParseUnixDiagMsgRealDump(t *testing.T) {
	found := false
	for _, b := range captureUnixDiag(t) {
		name, peer := parseUnixDiagMsg(b)
		if strings.HasSuffix(name, "/s.sock") && peer != 0 {
			found = true
		}
	}
	if !found {
		t.Fatal("no message names the test's socket with a peer")
	}
}

// FuzzSocketInodeFromLink: only "socket:[N]" parses, and to N.
func FuzzSocketInodeFromLink(f *testing.F) {
	links, _ := os.ReadDir("/proc/self/fd")
	for _, l := range links {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", l.Name())); err == nil {
			f.Add(target)
		}
	}
	for _, s := range []string{"socket:[12345]", "socket:[]", "socket:[-1]", "socket:[18446744073709551616]", "pipe:[1]", "socket:[1", "anon_inode:[eventpoll]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, link string) {
		n, ok := socketInodeFromLink(link)
		if !ok {
			return
		}
		if !strings.HasPrefix(link, "socket:[") || !strings.HasSuffix(link, "]") {
			t.Fatalf("%q parsed as %d", link, n)
		}
		if digits := link[len("socket:[") : len(link)-1]; strings.TrimLeft(digits, "0") != strings.TrimLeft(strconv.FormatUint(n, 10), "0") {
			t.Fatalf("%q parsed as %d", link, n)
		}
	})
}

// FuzzReadPIDFile: a pid file gives a positive pid or an error that quotes
// at most a clipped, valid-UTF-8 excerpt of the content.
func FuzzReadPIDFile(f *testing.F) {
	f.Add([]byte(strconv.Itoa(os.Getpid()) + "\n"))
	for _, s := range []string{" 42 ", "", "abc", "-1", "0", "99999999999999999999", "1\n2\n", "\x00", strings.Repeat("9", 5000)} {
		f.Add([]byte(s))
	}
	file := filepath.Join(f.TempDir(), "app.pid")
	f.Fuzz(func(t *testing.T, content []byte) {
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
		pid, err := readPIDFile(file)
		switch {
		case err == nil && pid <= 0:
			t.Fatalf("%q gave pid %d without an error", content, pid)
		case err != nil && len(err.Error()) > 300:
			t.Fatalf("error of %d bytes for %d bytes of content", len(err.Error()), len(content))
		case err != nil && !utf8.ValidString(err.Error()):
			t.Fatalf("error is not valid UTF-8: %q", err.Error())
		}
	})
}

// procFixture is a /proc tree with one process (pid 4242) and a socket
// table, written from the given file contents.
type procFixture struct {
	statm, comm, cmdline, fdLink, netTCP, smapsRollup string
}

const fixturePID = 4242

func (p procFixture) write(tb testing.TB) string {
	tb.Helper()
	root := tb.TempDir()
	p.writeInto(tb, root)
	return root
}

// writeInto writes the fixture into root, replacing what a previous fixture
// left there (the fuzz target reuses one tree: a new directory per input
// cost more than the pass itself).
func (p procFixture) writeInto(tb testing.TB, root string) {
	tb.Helper()
	dir := filepath.Join(root, strconv.Itoa(fixturePID))
	for _, d := range []string{filepath.Join(dir, "fd"), filepath.Join(dir, "net"), filepath.Join(dir, "ns"), filepath.Join(root, "net")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		filepath.Join(dir, "statm"): p.statm, filepath.Join(dir, "comm"): p.comm, filepath.Join(dir, "cmdline"): p.cmdline,
		filepath.Join(dir, "smaps_rollup"): p.smapsRollup, filepath.Join(root, "net", "tcp"): p.netTCP,
		filepath.Join(dir, "net", "tcp"): p.netTCP,             // the process's own namespace: what discovery reads
		filepath.Join(root, "stat"):      "btime 1700000000\n", // procfs.NewFS reads nothing, AllProcs lists dirs
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	// The process is in the agent's network namespace (loopback counts).
	if _, err := os.Lstat(filepath.Join(dir, "ns", "net")); os.IsNotExist(err) {
		own, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.Symlink(own, filepath.Join(dir, "ns", "net")); err != nil {
			tb.Fatal(err)
		}
	}
	fd3 := filepath.Join(dir, "fd", "3")
	if err := os.Remove(fd3); err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	if p.fdLink != "" {
		// A symlink's target may be any string but NUL and must be short
		// enough for the kernel.
		link := strings.ReplaceAll(p.fdLink, "\x00", "")
		if len(link) > 1000 {
			link = link[:1000]
		}
		if link != "" {
			if err := os.Symlink(link, fd3); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// realFixture copies this process's own files and the host's socket table,
// and points fd 3 at a socket inode present in that table.
func realFixture(tb testing.TB) procFixture {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
	// The header and a few rows of the host's table: a busy host has
	// thousands, and the fuzzer's cost grows with the input.
	tcp := strings.SplitAfter(read("/proc/net/tcp"), "\n")
	return procFixture{
		statm: read("/proc/self/statm"), comm: read("/proc/self/comm"), cmdline: read("/proc/self/cmdline"),
		smapsRollup: read("/proc/self/smaps_rollup"), netTCP: strings.Join(tcp[:min(len(tcp), 6)], ""),
		fdLink: "socket:[1]",
	}
}

// fixtureTCPLine is a /proc/net/tcp row: an established connection from
// 127.0.0.1:40000 to 127.0.0.1:6379 with socket inode 1.
const fixtureTCPLine = "   0: 0100007F:9C40 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 20 4 30 10 -1\n"

// runFixture samples the fixture as a discovering agent watching
// 127.0.0.1:6379 with --pid 4242 and --pss, twice, and returns the logs.
func runFixture(t *testing.T, root string) string {
	t.Helper()
	fs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	s, err := newServer("redis://127.0.0.1:6379/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: newConfig([]Option{WithPIDs(fixturePID), WithDiscover(), WithPSS(), WithMatch(regexp.MustCompile(`^(x|poolscope)`))}), logger: logger,
		problems: newProblems(logger), procRoot: root, fs: fs, tracked: map[int]*trackedProcess{}}
	a.setServers([]*server{s})
	for range 2 {
		a.refreshProcesses(t.Context())
		a.sampleProcesses()
	}
	return logs.String()
}

// FuzzProcfsFixture: whatever the content of statm, comm, cmdline,
// smaps_rollup, /proc/net/tcp and an fd link, a pass of the agent over them
// logs or skips, and never panics.
func FuzzProcfsFixture(f *testing.F) {
	real := realFixture(f)
	real.netTCP += fixtureTCPLine
	f.Add(real.statm, real.comm, real.cmdline, real.smapsRollup, real.netTCP, real.fdLink)
	f.Add(real.statm[:len(real.statm)/2], real.comm, "", real.smapsRollup[:len(real.smapsRollup)/3], real.netTCP[:len(real.netTCP)/2], "socket:[")
	f.Add("", "", "", "", "", "")
	f.Add("1 2", "x\n", "a\x00b\x00", "Pss: x kB\n", "sl local\n 0: 0100007F\n", "socket:[1]")
	f.Add("-1 -1 -1 -1 0 -1 0\n", "\x00", "\x00\x00", "Rss:\n", "header\n   0: 0100007F:9C40 0100007F:18EB 01\n", "socket:[99999999999999999999]")
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, statm, comm, cmdline, smaps, netTCP, fdLink string) {
		procFixture{statm: statm, comm: comm, cmdline: cmdline, smapsRollup: smaps, netTCP: netTCP, fdLink: fdLink}.writeInto(t, root)
		_ = runFixture(t, root)
	})
}

// TestTruncatedProcfsFixtures: named truncations of real files; each pass
// ends, the process is either sampled or dropped with a log line.
func TestTruncatedProcfsFixtures(t *testing.T) {
	real := realFixture(t)
	real.netTCP += fixtureTCPLine
	cut := func(s string, n int) string { return s[:min(n, len(s))] }
	for name, mutate := range map[string]func(p *procFixture){
		"complete":                   func(p *procFixture) {},
		"statm empty":                func(p *procFixture) { p.statm = "" },
		"statm one field":            func(p *procFixture) { p.statm = strings.Fields(p.statm)[0] },
		"statm garbage":              func(p *procFixture) { p.statm = "x y z\n" },
		"comm empty":                 func(p *procFixture) { p.comm = "" },
		"smaps_rollup truncated":     func(p *procFixture) { p.smapsRollup = cut(p.smapsRollup, 40) },
		"smaps_rollup garbage":       func(p *procFixture) { p.smapsRollup = "Pss: many kB\n" },
		"net/tcp header only":        func(p *procFixture) { p.netTCP = cut(p.netTCP, strings.IndexByte(p.netTCP, '\n')+1) },
		"net/tcp truncated mid-line": func(p *procFixture) { p.netTCP = cut(p.netTCP, strings.IndexByte(p.netTCP, '\n')+20) },
		"net/tcp short row":          func(p *procFixture) { p.netTCP = "sl local_address\n   0: 0100007F:9C40\n" },
		"net/tcp bad address":        func(p *procFixture) { p.netTCP = "sl\n   0: ZZ:9C40 0100007F:18EB 01 0:0 0:0 0 0 0 1\n" },
		"fd link truncated":          func(p *procFixture) { p.fdLink = "socket:[" },
		"fd link not a socket":       func(p *procFixture) { p.fdLink = "/dev/null" },
	} {
		t.Run(name, func(t *testing.T) {
			p := real
			mutate(&p)
			logs := runFixture(t, p.write(t))
			if strings.Contains(logs, "level=ERROR") {
				t.Errorf("an ERROR for a malformed file:\n%s", logs)
			}
			t.Logf("logs:\n%s", logs)
		})
	}
}
