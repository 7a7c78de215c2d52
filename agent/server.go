package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/pools"
)

// server is one watched Redis server. The fields after the atomics are
// owned by the server's own goroutine (runServer), except ips, which the
// process goroutine owns.
type server struct {
	rawURL  string // may carry a password: never log it
	display string // the URL with the password redacted
	network string // "tcp" or "unix"
	host    string // tcp
	port    int    // tcp
	path    string // unix
	tls     *tls.Config

	attrs   []attribute.KeyValue // server.address, server.port
	measure metric.MeasurementOption

	// ownInode and ownID identify the agent's own connection: its socket
	// inode (left out of the process connection counts) and its CLIENT ID
	// (left out of CLIENT LIST). 0 when unknown.
	ownInode atomic.Uint64
	ownID    atomic.Int64

	snapshot atomic.Pointer[serverSnapshot]

	client          *redis.Client
	infoAll         bool // the server refused "INFO clients stats" (before 7.0): use plain INFO
	maxClients      int64
	maxClientsState int // 0 not asked, 1 known, -1 not available
	groups          []groupSample
	haveGroups      bool

	ips []netip.Addr // resolved host, for discovery
}

// newServer checks a URL and prepares the server's attributes. Its errors
// never quote the URL (it may carry a password): the caller adds the
// redacted form.
func newServer(rawURL string, tlsBase *tls.Config) (*server, error) {
	scheme, _, found := strings.Cut(rawURL, "://")
	switch {
	case !found:
		return nil, errors.New("not a URL (want redis://host:port/db, rediss://host:port/db or unix:///path)")
	case scheme != "redis" && scheme != "rediss" && scheme != "unix":
		return nil, errors.New("unsupported scheme " + strconv.Quote(scheme) + " (want redis, rediss or unix)")
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis quotes the whole URL in some errors: drop its text.
		return nil, errors.New("not a valid Redis URL")
	}
	s := &server{rawURL: rawURL, display: pools.RedactURL(rawURL), network: o.Network}
	switch o.Network {
	case "unix":
		s.path = filepath.Clean(o.Addr)
		s.attrs = []attribute.KeyValue{attrServerAddress.String(s.path)}
	default:
		host, port, err := net.SplitHostPort(o.Addr)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" {
			return nil, errors.New("no host")
		}
		if perr != nil || p < 1 || p > 65535 {
			return nil, errors.New("port " + strconv.Quote(port) + " out of range")
		}
		s.network, s.host, s.port = "tcp", host, p
		s.attrs = []attribute.KeyValue{attrServerAddress.String(host), attrServerPort.Int(p)}
		if ip, err := netip.ParseAddr(host); err == nil {
			s.ips = []netip.Addr{ip.Unmap()}
		}
	}
	if o.TLSConfig != nil {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsBase != nil {
			t = tlsBase.Clone()
		}
		if t.ServerName == "" {
			t.ServerName = o.TLSConfig.ServerName
		}
		s.tls = t
	}
	s.measure = metric.WithAttributeSet(attribute.NewSet(s.attrs...))
	return s, nil
}

// key identifies the server's address, to watch a server given twice once.
func (s *server) key() string {
	if s.network == "unix" {
		return "unix:" + s.path
	}
	return "tcp:" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// newClient opens the agent's one connection to the server: PoolSize 1,
// named ClientName, no retries (runServer retries with back-off), and
// timeouts that keep one pass well under a few seconds.
func (s *server) newClient(timeout time.Duration) *redis.Client {
	o, _ := redis.ParseURL(s.rawURL) // checked by newServer
	if o == nil {
		o = &redis.Options{Network: s.network}
	}
	o.ClientName = ClientName
	o.TLSConfig = s.tls
	o.PoolSize, o.MaxActiveConns, o.MinIdleConns, o.MaxIdleConns = 1, 1, 0, 1
	o.MaxRetries = -1
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
	o.ContextTimeoutEnabled = true
	o.ConnMaxIdleTime = -1 // keep the one connection: a new one would show as churn
	o.DisableIdentity = true
	// The dialer records the socket's inode (discovery leaves it out) and
	// does the TLS handshake under ctx, so that Close never waits for a
	// handshake with a server that does not answer (go-redis's own TLS
	// dialer only knows DialTimeout).
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		s.ownInode.Store(socketInode(c))
		if s.tls == nil {
			return c, nil
		}
		tc := tls.Client(c, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
		return tc, nil
	}
	o.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		// An ACL user without +client|id still works: CLIENT LIST then
		// recognises the agent's connection by its name and command.
		id, err := cn.ClientID(ctx).Result()
		if err != nil {
			id = 0
		}
		s.ownID.Store(id)
		return nil
	}
	return redis.NewClient(o)
}

func (s *server) closeClient() {
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
	s.ownInode.Store(0)
	s.ownID.Store(0)
	s.maxClientsState = 0
}

// socketInode is the inode of a connection's socket, as /proc/PID/fd and
// /proc/net/* show it; 0 when it cannot be read.
func socketInode(c net.Conn) uint64 {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var st syscall.Stat_t
	var statErr error
	if err := raw.Control(func(fd uintptr) { statErr = syscall.Fstat(int(fd), &st) }); err != nil || statErr != nil {
		return 0
	}
	return st.Ino
}

// passTimeout bounds one pass's commands: the interval, but at least 1s (a
// loaded server still answers INFO in time) and at most 5s.
func passTimeout(interval time.Duration) time.Duration {
	return min(max(interval, time.Second), 5*time.Second)
}

// runServer samples one server until ctx ends: at every interval while it
// answers, with a doubling back-off (capped at maxBackoff) while it does not.
func (a *Agent) runServer(ctx context.Context, s *server) {
	defer s.closeClient()
	// The skip counter exists from the start, at 0, so that "no CLIENT LIST
	// skipped" is a series with a value rather than no data.
	a.inst.clientListSkipped.Add(ctx, 0, s.measure)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for pass := 0; ; pass++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if a.sampleServer(ctx, s, pass) {
			failures = 0
			timer.Reset(a.cfg.interval)
			continue
		}
		failures++
		timer.Reset(backoff(a.cfg.interval, a.cfg.maxBackoff, failures))
	}
}

// backoff is the wait after the n-th failure in a row: interval, then
// doubling, capped at ceiling, with +-10% jitter so that agents restarted
// together do not retry in step.
func backoff(interval, ceiling time.Duration, n int) time.Duration {
	d := interval
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// sampleServer runs one pass against s and publishes its snapshot. It
// reports whether the server answered.
func (a *Agent) sampleServer(ctx context.Context, s *server, pass int) bool {
	timeout := passTimeout(a.cfg.interval)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if s.client == nil {
		s.client = s.newClient(timeout)
	}
	raw, err := a.info(cctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return true // shutting down, not a server problem
		}
		s.snapshot.Store(&serverSnapshot{up: false})
		s.groups, s.haveGroups = nil, false
		a.problems.warn("redis "+s.display+" down: "+errorKind(err),
			"agent: Redis server not answering; retrying with back-off", "server", s.display, "error", err)
		if !isRedisError(err) {
			// Closing the client stops go-redis's own background redialling
			// (once a second), so that the back-off is the only retry.
			s.closeClient()
		}
		return false
	}
	a.problems.resolve("redis "+s.display+" down: ", "agent: Redis server answering again", "server", s.display)

	info, perr := parseInfo(raw)
	if perr != nil {
		a.problems.warn("redis "+s.display+" info-parse", "agent: unexpected INFO reply; some metrics are missing",
			"server", s.display, "error", perr)
	} else {
		a.problems.resolve("redis "+s.display+" info-parse", "")
	}
	if !info.has(fieldMaxClients) {
		a.maxClients(cctx, s, &info)
	}
	groups := a.clientList(cctx, s, info, pass)
	s.snapshot.Store(&serverSnapshot{up: true, info: info, groups: groups})
	return true
}

// info sends "INFO clients stats" (one reply with both sections, Redis
// 7.0+), or plain INFO on older servers, which refuse several sections.
func (a *Agent) info(ctx context.Context, s *server) (string, error) {
	if !s.infoAll {
		raw, err := s.client.Info(ctx, "clients", "stats").Result()
		if err == nil || !isRedisError(err) || strings.HasPrefix(err.Error(), "NOPERM") {
			return raw, err
		}
		s.infoAll = true
	}
	return s.client.Info(ctx).Result()
}

// maxClients fills in maxclients from CONFIG GET when INFO lacks it
// (before Redis 7.0). It asks once per connection: an ACL user without
// +config|get gets one warning and no redis.clients.max.
func (a *Agent) maxClients(ctx context.Context, s *server, info *redisInfo) {
	if s.maxClientsState == 0 {
		s.maxClientsState = -1
		kv, err := s.client.ConfigGet(ctx, "maxclients").Result()
		if err != nil {
			a.problems.warn("redis "+s.display+" config-get", "agent: CONFIG GET maxclients failed; redis.clients.max is not reported",
				"server", s.display, "error", err)
			return
		}
		if n, err := strconv.ParseInt(kv["maxclients"], 10, 64); err == nil && n >= 0 {
			s.maxClients, s.maxClientsState = n, 1
		}
	}
	if s.maxClientsState == 1 {
		info.maxClients = s.maxClients
		info.have |= fieldMaxClients
	}
}

// clientList returns the server's connections grouped by client name: from
// a new CLIENT LIST when this pass is due one, from the last one otherwise,
// and none when the server has too many clients for CLIENT LIST (counted as
// a skip) or CLIENT LIST is off.
func (a *Agent) clientList(ctx context.Context, s *server, info redisInfo, pass int) []groupSample {
	limit := a.cfg.clientListMaxClients
	if limit == 0 || !info.has(fieldConnected) {
		return nil
	}
	key := "redis " + s.display + " client-list-skipped"
	if info.connected > int64(limit) {
		a.inst.clientListSkipped.Add(ctx, 1, s.measure)
		a.problems.report(slog.LevelInfo, key, "agent: CLIENT LIST skipped: the server has more clients than the threshold",
			"server", s.display, "clients", info.connected, "threshold", limit)
		s.groups, s.haveGroups = nil, false
		return nil
	}
	a.problems.resolve(key, "agent: CLIENT LIST resumed", "server", s.display, "clients", info.connected)

	every := a.cfg.clientListEvery
	if every == 0 {
		every = 1
		if info.connected > clientListBusyClients {
			every = clientListBusyEvery
		}
	}
	if s.haveGroups && pass%every != 0 {
		return s.groups
	}
	start := time.Now()
	reply, err := s.client.ClientList(ctx).Result()
	if err != nil {
		a.problems.warn("redis "+s.display+" client-list-error: "+errorKind(err), "agent: CLIENT LIST failed; poolscope.server.connections is not reported",
			"server", s.display, "error", err)
		s.groups, s.haveGroups = nil, false
		return nil
	}
	a.inst.clientListDuration.Record(ctx, time.Since(start).Seconds(), s.measure)
	a.problems.resolve("redis "+s.display+" client-list-error: ", "")
	entries, perr := parseClientList(reply)
	if perr != nil {
		a.problems.warn("redis "+s.display+" client-list-parse", "agent: unexpected CLIENT LIST lines were left out",
			"server", s.display, "error", perr)
	} else {
		a.problems.resolve("redis "+s.display+" client-list-parse", "")
	}
	groups := groupClients(entries, s.ownID.Load(), a.cfg.topNames)
	samples := make([]groupSample, len(groups), len(groups)+len(s.groups))
	for i, g := range groups {
		samples[i] = groupSample{attrs: metric.WithAttributeSet(groupAttributes(g.name, s.attrs)), clientGroup: g}
	}
	samples = append(samples, vanished(s.groups, groups, start)...)
	s.groups, s.haveGroups = samples, true
	return samples
}

// vanishedLinger is how long a client name that left the server is still
// reported, with 0 connections, before its series ends. A series that just
// stops keeps its last count in a Prometheus behind a collector until the
// collector's metric_expiration (5 minutes by default): a phantom group. Two
// minutes lets at least one export of the 0 through at the SDK's default
// 60 s export interval.
const vanishedLinger = 2 * time.Minute

// vanished returns the groups of prev that are not in now, at 0
// connections, each stamped with when it was first seen gone; those gone
// for longer than vanishedLinger are dropped.
func vanished(prev []groupSample, now []clientGroup, at time.Time) []groupSample {
	present := make(map[string]bool, len(now))
	for _, g := range now {
		present[g.name] = true
	}
	var out []groupSample
	for _, g := range prev {
		if present[g.name] {
			continue
		}
		if g.goneSince.IsZero() {
			g.goneSince = at
			g.count, g.ageMax, g.idleMax = 0, 0, 0
		}
		if at.Sub(g.goneSince) < vanishedLinger {
			out = append(out, g)
		}
	}
	return out
}

// isRedisError reports whether the server answered with an error (as
// opposed to a network failure).
func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// errorKind is the cause of an error, for problem keys: the Redis error
// prefix (NOPERM, WRONGPASS, ERR ...) or "unreachable".
func errorKind(err error) string {
	if !isRedisError(err) {
		return "unreachable"
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, ' '); i > 0 {
		msg = msg[:i]
	}
	return msg
}
