package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// /proc/net/unix lists a unix socket's path only on the server side (the
// listening socket and the sockets it accepted); a client's socket is
// unnamed, and the file does not say which socket is whose peer. The
// kernel's sock_diag netlink interface does (it is what `ss -x` uses), so
// unix-socket discovery asks it: the accepted sockets carrying the
// server's path name their peers, the clients' socket inodes.

// Constants from linux/sock_diag.h and linux/unix_diag.h (not in syscall).
const (
	netlinkSockDiag   = 4  // NETLINK_SOCK_DIAG
	sockDiagByFamily  = 20 // SOCK_DIAG_BY_FAMILY
	udiagShowName     = 0x1
	udiagShowPeer     = 0x4
	unixDiagName      = 0
	unixDiagPeer      = 2
	tcpEstablished    = 1 // TCP_ESTABLISHED, also a connected unix socket's state
	unixDiagReqLen    = 24
	unixDiagMsgLen    = 16
	netlinkRecvBuffer = 32 << 10
)

// unixPeers returns, for every connected unix socket whose peer is bound to
// one of paths (a server's socket), that socket's inode mapped to the
// path's value. The sockets are those of the agent's network namespace.
func unixPeers(paths map[string]int) (map[uint64]int, error) {
	peers := map[uint64]int{}
	err := dumpUnixDiag(func(msg []byte) {
		name, peer := parseUnixDiagMsg(msg)
		if peer == 0 || name == "" {
			return
		}
		if i, ok := paths[filepath.Clean(name)]; ok {
			peers[uint64(peer)] = i
		}
	})
	if err != nil {
		return nil, err
	}
	return peers, nil
}

// dumpUnixDiag asks the kernel (sock_diag over netlink) for every
// established unix socket with its name and peer, and calls visit with
// each unix_diag_msg. visit must not keep msg: its buffer is reused.
func dumpUnixDiag(visit func(msg []byte)) error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkSockDiag)
	if err != nil {
		return fmt.Errorf("agent: sock_diag netlink socket: %w", err)
	}
	defer syscall.Close(fd)
	// A dump is answered at once; the timeout only guards against a kernel
	// that never sends NLMSG_DONE.
	tv := syscall.NsecToTimeval((2 * time.Second).Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)

	req := make([]byte, syscall.NLMSG_HDRLEN+unixDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence number
	body := req[syscall.NLMSG_HDRLEN:]
	body[0] = syscall.AF_UNIX
	ne.PutUint32(body[4:], 1<<tcpEstablished)            // udiag_states
	ne.PutUint32(body[12:], udiagShowName|udiagShowPeer) // udiag_show
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return fmt.Errorf("agent: sock_diag request: %w", err)
	}

	buf := make([]byte, netlinkRecvBuffer)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("agent: sock_diag reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("agent: sock_diag reply: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return nil
			case syscall.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(ne.Uint32(m.Data)); errno != 0 {
						return fmt.Errorf("agent: sock_diag: %w", syscall.Errno(-errno))
					}
				}
				return errors.New("agent: sock_diag: error reply")
			case sockDiagByFamily:
				visit(m.Data)
			}
		}
	}
}

// parseUnixDiagMsg reads a unix_diag_msg and its attributes: the socket's
// path (empty when unnamed or abstract) and its peer's inode (0 when none).
func parseUnixDiagMsg(b []byte) (name string, peer uint32) {
	if len(b) < unixDiagMsgLen {
		return "", 0
	}
	ne := binary.NativeEndian
	for a := b[unixDiagMsgLen:]; len(a) >= syscall.SizeofRtAttr; {
		l := int(ne.Uint16(a[0:]))
		typ := ne.Uint16(a[2:])
		if l < syscall.SizeofRtAttr || l > len(a) {
			break
		}
		data := a[syscall.SizeofRtAttr:l]
		switch typ {
		case unixDiagName:
			if len(data) > 0 && data[0] != 0 { // a leading NUL is an abstract name
				end := len(data)
				for i, c := range data {
					if c == 0 {
						end = i
						break
					}
				}
				name = string(data[:end])
			}
		case unixDiagPeer:
			if len(data) >= 4 {
				peer = ne.Uint32(data)
			}
		}
		next := (l + syscall.RTA_ALIGNTO - 1) &^ (syscall.RTA_ALIGNTO - 1)
		if next > len(a) {
			break
		}
		a = a[next:]
	}
	return name, peer
}
