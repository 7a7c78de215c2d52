package agent

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A server that says cluster_enabled:1 is a Redis Cluster node: at every
// discovery pass (WithDiscoverEvery) the agent asks it for the cluster's
// nodes (CLUSTER SHARDS, Redis 7.0+; CLUSTER NODES before) and watches
// every node from then on, so one seed finds the whole cluster. A node that
// joins is added, a node the cluster forgets is dropped (only nodes found
// this way, never a configured one), and each node's metrics carry its
// shard (slot ranges) and its role, both by the node's own word (its own
// topology reply, its own INFO), so a failover shows at the next pass.
//
// Why the node's own word for its shard: during a failover the nodes'
// views disagree for a few gossip rounds. The new master may still list
// the old one as a master without slots, while the old one already lists
// itself as the new master's replica. Taking whichever view came last
// would flap the shard label (a new series each time); a node's view of
// itself changes once, with its role.
//
// Nodes are told apart by their cluster ID, not by address: the seed is
// often given by a name (a Kubernetes Service, a DNS name) while the
// cluster lists its nodes by the address they announce. Each node is asked
// its own ID (CLUSTER MYID, after the topology), so that the seed's own
// entry is the seed, and other nodes' views of it find it too, instead of a
// second watch of the same server under its announced address.
// A node that refuses CLUSTER MYID (an ACL user without +cluster|myid) is
// matched by address only.

// clusterNode is one node as the cluster lists it.
type clusterNode struct {
	id    string // the node's cluster ID; "" when unknown (a Sentinel's list)
	host  string
	port  int
	shard string // the shard's slot ranges, "0-5460"; "" without slots
}

func (n clusterNode) key() string { return "tcp:" + net.JoinHostPort(n.host, strconv.Itoa(n.port)) }

// hookedPass runs one pass from source (a topology discovery pass, a
// server's sampling pass), telling the tests' hook (config.passHook) when
// it starts and ends.
func (a *Agent) hookedPass(source string, pass func()) {
	if h := a.cfg.passHook; h != nil {
		defer h(source)()
	}
	pass()
}

// followCluster asks s for the cluster's nodes and applies them. On an
// error the watched nodes stay as they are; the caller says it (see
// topologyFailed).
func (a *Agent) followCluster(ctx context.Context, s *server) error {
	self, nodes, err := clusterNodes(ctx, s.client, s.tls != nil)
	if err != nil {
		return err
	}
	a.problems.resolve(topologyKey(s), "agent: cluster nodes readable again", "server", s.display)
	a.applyTopology(s, self, nodes)
	return nil
}

// topologyFailed says, once until it is readable again, that s's cluster
// nodes could not be read.
func (a *Agent) topologyFailed(s *server, err error) {
	a.problems.warn(topologyKey(s), "agent: cannot read the cluster's nodes from this node; the watched nodes stay as they are",
		"server", s.display, "error", err)
}

func topologyKey(s *server) string { return "redis " + s.display + " cluster-topology" }

// refusesToSay reports whether err is a server's refusal to let the agent
// ask for its cluster nodes (authentication or ACL), as opposed to a
// passing state (LOADING, BUSY, MASTERDOWN, ...).
func refusesToSay(err error) bool {
	switch errorKind(err) {
	case "NOAUTH", "WRONGPASS", "NOPERM":
		return true
	}
	return false
}

// clusterNodes reads the topology: CLUSTER SHARDS, or CLUSTER NODES when
// the server refuses it (before 7.0); then the answering node's own ID
// (CLUSTER MYID; "" when refused). Two round trips rather than one
// pipeline: go-redis leaves a pipeline's replies without an error when the
// connection's set-up fails (a missing password), which would read as an
// empty cluster.
func clusterNodes(ctx context.Context, c *redis.Client, useTLS bool) (self string, nodes []clusterNode, err error) {
	shards, err := c.ClusterShards(ctx).Result()
	switch {
	case err == nil:
		nodes = nodesFromShards(shards, useTLS)
	case !isRedisError(err) || notClusterNode(err): // CLUSTER NODES would fail too
		return "", nil, err
	default:
		text, err := c.ClusterNodes(ctx).Result()
		if err != nil {
			return "", nil, err
		}
		if nodes, err = parseClusterNodes(text); err != nil {
			return "", nil, err
		}
	}
	return c.ClusterMyID(ctx).Val(), nodes, nil
}

// notClusterNode reports whether err is a server's answer that it is not
// a cluster node.
func notClusterNode(err error) bool {
	return isRedisError(err) && strings.Contains(err.Error(), "cluster support disabled")
}

// nodesFromShards lists a CLUSTER SHARDS reply's nodes with their shard.
// A node without an address (or port) is left out; with useTLS its TLS
// port is used when it has one.
func nodesFromShards(shards []redis.ClusterShard, useTLS bool) []clusterNode {
	var out []clusterNode
	for _, sh := range shards {
		ranges := make([]string, 0, len(sh.Slots))
		for _, r := range sh.Slots {
			ranges = append(ranges, slotRange(r.Start, r.End))
		}
		shard := strings.Join(ranges, ",")
		for _, n := range sh.Nodes {
			host := n.IP
			if n.Endpoint != "" && n.Endpoint != "?" {
				host = n.Endpoint
			}
			port := n.Port
			if useTLS && n.TLSPort > 0 {
				port = n.TLSPort
			}
			if host == "" || port <= 0 || port > 65535 {
				continue
			}
			out = append(out, clusterNode{id: n.ID, host: host, port: int(port), shard: shard})
		}
	}
	return out
}

func slotRange(start, end int64) string {
	if start == end {
		return strconv.FormatInt(start, 10)
	}
	return strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)
}

// parseClusterNodes reads a CLUSTER NODES reply: one line per node,
// "ID IP:PORT@BUSPORT[,HOSTNAME] FLAGS MASTER-ID PING PONG EPOCH LINK
// SLOT...". A replica's shard is its master's slots. Lines without an
// address (noaddr, handshake) or too short are left out; a reply with no
// usable line is an error.
func parseClusterNodes(text string) ([]clusterNode, error) {
	type entry struct {
		node     clusterNode
		masterID string
	}
	var entries []entry
	slots := map[string]string{} // node id -> its slot ranges
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || strings.Contains(f[2], "handshake") || strings.Contains(f[2], "noaddr") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",")
		host, portText, err := net.SplitHostPort(addr)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil || host == "" || port <= 0 || port > 65535 {
			continue
		}
		var ranges []string
		for _, s := range f[8:] {
			if !strings.HasPrefix(s, "[") { // [slot->-id] marks a migration
				ranges = append(ranges, s)
			}
		}
		slots[f[0]] = strings.Join(ranges, ",")
		e := entry{node: clusterNode{id: f[0], host: host, port: port}, masterID: f[0]}
		if f[3] != "-" {
			e.masterID = f[3]
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("agent: CLUSTER NODES reply lists no node with an address: %q", clip(text))
	}
	out := make([]clusterNode, len(entries))
	for i, e := range entries {
		e.node.shard = slots[e.masterID] // a master's own id
		out[i] = e.node
	}
	return out, nil
}

// applyTopology makes the watched servers follow a cluster's node list,
// as node from (whose own cluster ID is self, "" when unknown) saw it:
// nodes not yet watched are added (with from's URL, user, password and TLS
// settings), from's own shard is set, another node's only until that node
// has given its own, and the nodes found earlier through the same cluster
// that from no longer lists are dropped. A listed node is the watched
// server with its ID, else the one at its address.
func (a *Agent) applyTopology(from *server, self string, nodes []clusterNode) {
	a.topoMu.Lock()
	defer a.topoMu.Unlock()
	if a.runCtx == nil || a.runCtx.Err() != nil {
		return // stopping
	}
	cluster := from.clusterOf
	if cluster == "" {
		cluster = from.key()
	}
	if self != "" {
		from.nodeID = self
	}
	list := a.serverList()
	byKey := make(map[string]*server, len(list))
	byID := map[string]*server{}
	for _, s := range list {
		byKey[s.key()] = s
		if s.nodeID != "" {
			byID[s.nodeID] = s
		}
	}
	listed := map[string]bool{}
	next := slices.Clone(list)
	var added []*server
	for _, n := range nodes {
		s := byID[n.id] // byID has no "" key
		if s == nil {
			s = byKey[n.key()]
		}
		k := n.key()
		if s != nil {
			k = s.key()
		}
		if listed[k] {
			continue
		}
		listed[k] = true
		if s == nil {
			var err error
			if s, err = a.clusterServer(from, n, cluster); err != nil {
				a.problems.warn("redis "+from.display+" cluster-node "+k, "agent: cannot watch a cluster node", "server", from.display, "node", k, "error", err)
				continue
			}
			next = append(next, s)
			added = append(added, s)
		}
		isFrom := s == from
		if !isFrom && s.shardFromSelf {
			continue // its own view wins (see the package comment above)
		}
		s.shardFromSelf = s.shardFromSelf || isFrom
		if old := s.shard.Load(); old == nil || *old != n.shard {
			s.shard.Store(&n.shard)
		}
	}
	next = slices.DeleteFunc(next, func(s *server) bool {
		gone := s.discovered && s.clusterOf == cluster && !listed[s.key()]
		if gone {
			s.cancel()
			a.logger.Info("agent: server no longer listed by its cluster or Sentinel; not watched any more", "server", s.display, "from", from.display)
		}
		return gone
	})
	a.setServers(next)
	for _, s := range added {
		a.startServer(s)
		a.logger.Info("agent: server found through its cluster or Sentinel; watching it", "server", s.display, "shard", *s.shard.Load(), "from", from.display)
	}
}

// clusterServer is a node found through from's cluster: from's URL with
// the node's address.
func (a *Agent) clusterServer(from *server, n clusterNode, cluster string) (*server, error) {
	u, err := url.Parse(from.rawURL.Value())
	if err != nil {
		return nil, fmt.Errorf("agent: the seed's URL does not parse") // never quoted: it may hold a password
	}
	u.Host = net.JoinHostPort(n.host, strconv.Itoa(n.port))
	s, err := newServer(u.String(), from.tls)
	if err != nil {
		return nil, err
	}
	s.discovered, s.clusterOf = true, cluster
	return s, nil
}
