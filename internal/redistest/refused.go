package redistest

import (
	"syscall"
	"testing"
)

// RefusedPort returns a loopback TCP port that refuses connections for the
// whole test: a socket bound to it without listening holds it until
// cleanup. A port from redisserver.FreePort would be free again at once,
// and a redis-server or listener that another test package (running in
// parallel) starts could take it mid-test, turning "refused" into "some
// other server answers". The socket is bound without SO_REUSEADDR, so no
// other bind can share the port, and a dial to it gets ECONNREFUSED.
func RefusedPort(tb testing.TB) int {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("refused port: socket: %v", err)
	}
	tb.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("refused port: bind 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("refused port: getsockname: %v", err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}
