package agent

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// socketIndex maps the inode of every local client socket connected to a
// watched server to that server's index in Agent.passServers.
type socketIndex map[uint64]int

// socketIndex reads the socket tables: for TCP servers, the tcp and tcp6
// tables of every network namespace in members (see netns.go); for
// unix-socket servers, sock_diag, which answers for the agent's own network
// namespace only. A connection counts when its remote end is a server's
// address and port (TCP) or its peer is bound to the server's socket path
// (unix). The agent's own connections are left out.
func (a *Agent) socketIndex(ctx context.Context, members map[uint64][]int) socketIndex {
	idx := socketIndex{}
	tcp := map[netip.AddrPort]int{}
	unix := map[string]int{}
	for i, s := range a.passServers {
		switch s.network {
		case "unix":
			unix[s.path] = i
		default:
			a.resolveServer(ctx, s)
			for _, ip := range s.ips {
				tcp[netip.AddrPortFrom(ip, uint16(s.port))] = i
			}
		}
	}
	if len(tcp) > 0 {
		a.indexNamespaces(idx, members, tcp)
	}
	if len(unix) > 0 {
		peers, err := unixPeers(unix)
		if err != nil {
			a.problems.warn("socket table sock_diag", "agent: cannot list unix-socket peers; unix-socket connections are not counted",
				"error", err)
		} else {
			a.problems.resolve("socket table sock_diag", "")
		}
		for ino, i := range peers {
			idx[ino] = i
		}
	}
	for _, s := range a.passServers {
		if ino := s.ownInode.Load(); ino != 0 {
			delete(idx, ino)
		}
	}
	return idx
}

// resolveServer looks up a TCP server's host name (an IP address needs
// none). A failed lookup keeps the last addresses.
func (a *Agent) resolveServer(ctx context.Context, s *server) {
	if _, err := netip.ParseAddr(s.host); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", s.host)
	if err != nil {
		a.problems.warn("resolve "+s.display, "agent: cannot resolve the server's host; its connections are not counted",
			"server", s.display, "error", err)
		return
	}
	a.problems.resolve("resolve "+s.display, "")
	s.ips = s.ips[:0]
	for _, ip := range ips {
		s.ips = append(s.ips, ip.Unmap())
	}
}

// countConnections counts a process's connections to each server from its
// file descriptors (links "socket:[INODE]").
func countConnections(p procfs.Proc, idx socketIndex, servers int) ([]int64, error) {
	counts := make([]int64, servers)
	if len(idx) == 0 {
		return counts, nil // no connection to any server exists
	}
	targets, err := p.FileDescriptorTargets()
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if ino, ok := socketInodeFromLink(t); ok {
			if i, ok := idx[ino]; ok {
				counts[i]++
			}
		}
	}
	return counts, nil
}

// socketInodeFromLink parses an fd link "socket:[12345]".
func socketInodeFromLink(link string) (uint64, bool) {
	rest, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, false
	}
	n, err := strconv.ParseUint(rest[:len(rest)-1], 10, 64)
	return n, err == nil
}
