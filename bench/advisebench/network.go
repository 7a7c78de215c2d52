package advisebench

import (
	"net"
	"sync"
	"time"
)

// network is a TCP relay in front of the redis-server that delays every
// chunk by a fixed one-way latency in each direction, as a network between
// hosts does. On loopback a command holds its connection for tens of
// microseconds, so the client's CPU, not its connections, bounds a
// workload; across a network the round trip holds the connection, and
// the pool's size is what decides how many commands are in flight.
type network struct {
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// newNetwork relays a loopback port to target with the one-way delay.
func newNetwork(target string, delay time.Duration) (*network, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &network{ln: ln, target: target, delay: delay}
	n.wg.Go(n.accept)
	return n, nil
}

func (n *network) Addr() string { return n.ln.Addr().String() }

func (n *network) accept() {
	for {
		c, err := n.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", n.target)
		if err != nil {
			c.Close()
			continue
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			c.Close()
			s.Close()
			continue
		}
		n.conns = append(n.conns, c, s)
		n.mu.Unlock()
		n.wg.Go(func() { n.relay(c, s) })
		n.wg.Go(func() { n.relay(s, c) })
	}
}

// chunk is bytes read at one instant, due at the other end delay later.
type chunk struct {
	data []byte
	due  time.Time
}

// relay copies from to to, each chunk delivered delay after it was read,
// in order; it ends when either side closes.
func (n *network) relay(from, to net.Conn) {
	queue := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range queue {
			time.Sleep(time.Until(c.due))
			if _, err := to.Write(c.data); err != nil {
				from.Close()
				for range queue {
				}
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		k, err := from.Read(buf)
		if k > 0 {
			queue <- chunk{data: append([]byte(nil), buf[:k]...), due: time.Now().Add(n.delay)}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	<-done
	to.Close()
}

// Close stops accepting, closes every relayed connection and waits for
// the relays to end.
func (n *network) Close() error {
	err := n.ln.Close()
	n.mu.Lock()
	n.closed = true
	for _, c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	n.wg.Wait()
	return err
}
