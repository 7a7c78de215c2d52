package redisserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// A server started with Options.NetNS runs inside a network namespace made
// with `ip netns add` (/run/netns/NAME), as a pod's server would: the
// harness reaches it by creating its sockets inside that namespace. A
// socket belongs to the namespace its creating thread is in, so the dial
// runs on a locked OS thread switched into the namespace and back.

// netnsDialer dials addresses from inside the named network namespace.
func netnsDialer(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		done := make(chan result, 1)
		// A goroutine of its own: when switching back fails, its thread
		// stays locked and dies with it instead of serving other goroutines
		// from the wrong namespace.
		go func() {
			c, err := dialInNetNS(ctx, name, network, addr)
			done <- result{c, err}
		}()
		r := <-done
		return r.c, r.err
	}
}

func dialInNetNS(ctx context.Context, name, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("redisserver: own network namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("redisserver: network namespace %q: %w", name, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("redisserver: enter network namespace %q: %w", name, err)
	}
	d := net.Dialer{}
	c, err := d.DialContext(ctx, network, addr)
	if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	} // else the thread ends with this goroutine, still locked
	return c, err
}
