package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// Each network namespace has its own socket table: /proc/net/tcp shows the
// reader's, /proc/PID/net/tcp shows PID's. A pod (or a container on a
// Docker bridge) is a namespace of its own, so discovery reads the table
// of every namespace its processes are in, once per pass, through any one
// of the namespace's processes. Socket inodes are numbered by the kernel's
// one socket file system, so the tables of all namespaces merge into one
// index without clashes.

// errNetNSLink wraps a /proc/PID/ns/net link that does not read "net:[N]".
var errNetNSLink = errors.New("agent: unexpected network namespace link")

// netNamespace is the inode of PID's network namespace, from the link
// /proc/PID/ns/net ("net:[4026531840]").
func netNamespace(root string, pid int) (uint64, error) {
	link, err := os.Readlink(filepath.Join(root, strconv.Itoa(pid), "ns", "net"))
	if err != nil {
		return 0, err
	}
	return parseNetNSLink(link)
}

// parseNetNSLink reads "net:[INODE]".
func parseNetNSLink(link string) (uint64, error) {
	rest, ok := strings.CutPrefix(link, "net:[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, fmt.Errorf("%w %q", errNetNSLink, clip(link))
	}
	n, err := strconv.ParseUint(rest[:len(rest)-1], 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w %q", errNetNSLink, clip(link))
	}
	return n, nil
}

// ownNetNamespace is the agent's own network namespace (0 when unknown):
// through the proc root's "self", which names the agent in any mount of
// /proc whose PID namespace holds it, else through /proc/self.
func (a *Agent) ownNetNamespace() uint64 {
	for _, root := range []string{a.procRoot, procfs.DefaultMountPoint} {
		if link, err := os.Readlink(filepath.Join(root, "self", "ns", "net")); err == nil {
			if n, err := parseNetNSLink(link); err == nil {
				return n
			}
		}
	}
	return 0
}

// namespaceMembers groups pids by network namespace, each namespace's pids
// in ascending order (the first readable one supplies its socket table).
// A process whose namespace cannot be read is left out: its fds, behind the
// same ptrace check, cannot be read either.
func (a *Agent) namespaceMembers(pids []int) map[uint64][]int {
	slices.Sort(pids)
	pids = slices.Compact(pids)
	members := map[uint64][]int{}
	for _, pid := range pids {
		ns, err := netNamespace(a.procRoot, pid)
		if err != nil {
			if !gone(err) && !errors.Is(err, fs.ErrPermission) {
				a.problems.warn("pid "+strconv.Itoa(pid)+" netns", "agent: cannot read the process's network namespace; its connections are not counted",
					"pid", pid, "error", err)
			}
			continue
		}
		members[ns] = append(members[ns], pid)
	}
	return members
}

// indexNamespaces adds to idx every established TCP connection, in each
// namespace of members, whose remote end is one of tcp's addresses. In a
// namespace other than the agent's, loopback addresses are another host's
// loopback (the pod's own): they never match.
func (a *Agent) indexNamespaces(idx socketIndex, members map[uint64][]int, tcp map[netip.AddrPort]int) {
	own := a.ownNetNamespace()
	for ns, pids := range members {
		rows, ok := a.namespaceTCP(ns, pids)
		if !ok {
			continue
		}
		for _, r := range rows {
			if r.St != tcpEstablished || r.Inode == 0 {
				continue
			}
			ip, ok := netip.AddrFromSlice(r.RemAddr)
			if !ok || r.RemPort > 65535 {
				continue
			}
			ip = ip.Unmap()
			if ns != own && ip.IsLoopback() {
				continue
			}
			if i, ok := tcp[netip.AddrPortFrom(ip, uint16(r.RemPort))]; ok {
				idx[r.Inode] = i
			}
		}
	}
}

// namespaceTCP reads a namespace's tcp and tcp6 tables through the first of
// its processes that can be read: one that exits mid-read hands over to the
// next. A namespace none of whose processes can be read is reported once.
func (a *Agent) namespaceTCP(ns uint64, pids []int) (procfs.NetTCP, bool) {
	key := "netns " + strconv.FormatUint(ns, 10) + " socket table"
	var last error
	for _, pid := range pids {
		rows, err := readTCPTables(filepath.Join(a.procRoot, strconv.Itoa(pid)))
		if err == nil {
			a.problems.resolve(key, "")
			return rows, true
		}
		if !gone(err) {
			last = err
		}
	}
	if last != nil {
		a.problems.warn(key, "agent: cannot read the socket table of a network namespace; its processes' TCP connections are not counted",
			"netns", ns, "pids", pids, "error", last)
	}
	return nil, false
}

// readTCPTables reads DIR/net/tcp and DIR/net/tcp6, DIR being /proc/PID.
// A missing tcp6 (a kernel without IPv6) is no error while DIR exists.
func readTCPTables(dir string) (procfs.NetTCP, error) {
	pfs, err := procfs.NewFS(dir)
	if err != nil {
		return nil, err
	}
	rows, err := pfs.NetTCP()
	if err != nil {
		return nil, err
	}
	rows6, err := pfs.NetTCP6()
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if _, serr := os.Stat(dir); serr != nil {
			return nil, serr // the process exited between the two reads
		}
	}
	return append(rows, rows6...), nil
}
