package pools

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// announce names a new connection on the server (CLIENT SETNAME, after
// AUTH when the options carry credentials) before go-redis first uses it.
//
// go-redis sends its HELLO and CLIENT SETNAME only when a connection is
// first taken from the pool, so the MinIdleConns connections it dials ahead
// of use sit on the server without a name, where CLIENT LIST, the agent and
// the leak alert cannot attribute them (go-redis#3121). A pool with a
// minimum therefore names its connections at dial time; go-redis's own
// handshake at first use then sets the same name again.
//
// A server that greets the connection with its maxclients error, or closes
// it, gives a ServerClosedError; any other error reply is returned with the
// server's text (which never contains the password).
func announce(ctx context.Context, conn net.Conn, o *redis.Options, role Role, addr string) error {
	deadline := time.Now().Add(o.DialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}

	var cmds []string
	switch {
	case o.Password != "" && o.Username != "":
		cmds = append(cmds, respCommand("AUTH", o.Username, o.Password))
	case o.Password != "":
		cmds = append(cmds, respCommand("AUTH", o.Password))
	}
	cmds = append(cmds, respCommand("CLIENT", "SETNAME", o.ClientName))
	if _, err := conn.Write([]byte(strings.Join(cmds, ""))); err != nil {
		return announceFailed(role, addr, err)
	}
	r := bufio.NewReaderSize(conn, 256)
	for range cmds {
		line, err := r.ReadString('\n')
		if err != nil {
			return announceFailed(role, addr, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, maxClientsGreeting):
			return &ServerClosedError{Role: role, Addr: addr, Err: errMaxClients}
		case strings.HasPrefix(line, "-"):
			return fmt.Errorf("pools: %s pool: server %s: %s", role, addr, line[1:])
		case line != "+OK":
			return fmt.Errorf("pools: %s pool: server %s: unexpected reply %.40q while naming a new connection", role, addr, line)
		}
	}
	return conn.SetDeadline(time.Time{})
}

// announceFailed reports an I/O error of the naming exchange: a peer that
// closed the connection is a server refusing it.
func announceFailed(role Role, addr string, err error) error {
	if closedByPeer(err) {
		return &ServerClosedError{Role: role, Addr: addr, Err: err}
	}
	return fmt.Errorf("pools: %s pool: naming a new connection to %s: %w", role, addr, err)
}

// respCommand encodes a command as a RESP array of bulk strings.
func respCommand(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}
