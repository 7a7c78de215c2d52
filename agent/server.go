package agent

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/internal/redisurl"
	"github.com/poolscope/poolscope/secret"
)

// server is one watched Redis server. The fields after the atomics are
// owned by the server's own goroutine (runServer), except ips, which the
// process goroutine owns.
type server struct {
	rawURL  secret.String // may carry a password: prints as ***
	display string        // the URL with the password redacted
	network string        // "tcp" or "unix"
	host    string        // tcp
	port    int           // tcp
	path    string        // unix
	tls     *tls.Config

	attrs   []attribute.KeyValue // server.address, server.port
	measure metric.MeasurementOption

	// shard is the node's cluster shard (its slot ranges): from the node's
	// own topology reply once it has answered one (shardFromSelf, guarded by
	// Agent.topoMu), until then from another node's; "" outside a cluster.
	shard         atomic.Pointer[string]
	shardFromSelf bool
	// nodeID is the node's cluster ID by its own CLUSTER MYID, "" until
	// known; guarded by Agent.topoMu (see topology.go).
	nodeID string
	// discovered is set for a node found through a cluster's topology (not
	// configured), which leaves when the topology no longer lists it.
	discovered bool
	clusterOf  string             // the key of the configured seed it was found through
	cancel     context.CancelFunc // stops runServer

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
	// clusterNode: the server has answered CLUSTER SHARDS or NODES, with
	// the server metrics off (runTopology).
	clusterNode bool

	ips []netip.Addr // resolved host, for discovery

	// The labels of the server metrics: address, port, and role and shard
	// when known. Owned by runServer; rebuilt when role or shard change.
	labelRole, labelShard string
	labelAttrs            []attribute.KeyValue
	labelMeasure          metric.MeasurementOption
	labelCPU              *[numCPUStates]metric.MeasurementOption // the labels plus each CPU state
}

// labels returns the server metrics' attributes for role (INFO's, ""
// unknown) and the shard the topology last gave, rebuilding them when
// either changed; changed says so.
func (s *server) labels(role string) (attrs []attribute.KeyValue, m metric.MeasurementOption, changed bool) {
	shard := ""
	if p := s.shard.Load(); p != nil {
		shard = *p
	}
	if s.labelMeasure != nil && role == s.labelRole && shard == s.labelShard {
		return s.labelAttrs, s.labelMeasure, false
	}
	kv := slices.Clip(s.attrs)
	if role != "" {
		kv = append(kv, attrRedisRole.String(role))
	}
	if shard != "" {
		kv = append(kv, attrRedisShard.String(shard))
	}
	s.labelRole, s.labelShard, s.labelAttrs = role, shard, kv
	s.labelMeasure = metric.WithAttributeSet(attribute.NewSet(kv...))
	s.labelCPU = new([numCPUStates]metric.MeasurementOption)
	for c, st := range cpuStates {
		s.labelCPU[c] = metric.WithAttributeSet(attribute.NewSet(append(slices.Clip(kv), attrCPUState.String(st.state))...))
	}
	return s.labelAttrs, s.labelMeasure, true
}

// currentMeasure is the last labels' measurement option (address and port
// before the first INFO).
func (s *server) currentMeasure() metric.MeasurementOption {
	if s.labelMeasure == nil {
		return s.measure
	}
	return s.labelMeasure
}

// newServer checks a URL (internal/redisurl, the check pools apply) and
// prepares the server's attributes. Its errors never quote the URL (it may
// carry a password): the caller adds the redacted form.
func newServer(rawURL string, tlsBase *tls.Config) (*server, error) {
	o, err := redisurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	s := &server{rawURL: secret.String(rawURL), display: redisurl.Redact(rawURL), network: o.Network}
	if o.Network == "unix" {
		s.path = filepath.Clean(o.Addr)
		s.attrs = []attribute.KeyValue{attrServerAddress.String(s.path)}
	} else {
		host, port, _ := net.SplitHostPort(o.Addr) // checked by Parse
		p, _ := strconv.Atoi(port)
		s.network, s.host, s.port = "tcp", host, p
		s.attrs = []attribute.KeyValue{attrServerAddress.String(host), attrServerPort.Int(p)}
		if ip, err := netip.ParseAddr(host); err == nil {
			s.ips = []netip.Addr{ip.Unmap()}
		}
	}
	if o.TLSConfig != nil {
		s.tls = serverTLS(tlsBase, o.TLSConfig.ServerName)
	}
	s.measure = metric.WithAttributeSet(attribute.NewSet(s.attrs...))
	return s, nil
}

// serverTLS is the TLS configuration for one rediss:// server: the base
// (WithTLSConfig, the pools' REDIS_TLS_*) or TLS 1.2 with the system roots,
// verifying the URL's host unless the base names a server.
func serverTLS(base *tls.Config, urlHost string) *tls.Config {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		t = base.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = urlHost
	}
	return t
}

// key identifies the server's address, to watch a server given twice once.
func (s *server) key() string {
	if s.network == "unix" {
		return "unix:" + s.path
	}
	return "tcp:" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// noMaintNotifications turns go-redis's maintenance notifications off for
// the agent's clients: their one connection runs INFO and CLIENT LIST and
// has no use for a server's handoff notices, and with them on go-redis
// resolves the host name as the client is made, to classify the endpoint
// (up to 2 s where DNS is slow), besides the dial's own lookup.
func noMaintNotifications() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// newClient opens the agent's one connection to the server: PoolSize 1,
// named ClientName, no retries (runServer retries with back-off), and
// timeouts that keep one pass well under a few seconds.
func (s *server) newClient(timeout time.Duration) *redis.Client {
	o, _ := redis.ParseURL(s.rawURL.Value()) // checked by newServer
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
	o.MaintNotificationsConfig = noMaintNotifications()
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
