package agent

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/internal/redisurl"
)

// nodeView is what the agent's poolscope.redis.up says about one node.
type nodeView struct {
	up          int64
	role, shard string
}

// nodeViews maps "host:port" to the agent's view of each node.
func nodeViews(ps []point) map[string]nodeView {
	out := map[string]nodeView{}
	for _, p := range ps {
		addr := p.str(attrServerAddress) + ":" + strconv.FormatInt(p.int(attrServerPort), 10)
		out[addr] = nodeView{up: p.value, role: p.str(attrRedisRole), shard: p.str(attrRedisShard)}
	}
	return out
}

// clusterRoles is the cluster's own view, from CLUSTER NODES on node n:
// "host:port" -> "master" or "replica".
func clusterRoles(t *testing.T, n *redisserver.Server) (map[string]string, error) {
	text, err := n.Admin().ClusterNodes(t.Context()).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || strings.Contains(f[2], "fail") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		switch {
		case strings.Contains(f[2], "master"):
			out[addr] = "master"
		case strings.Contains(f[2], "slave"):
			out[addr] = "replica"
		}
	}
	return out, nil
}

// sameView compares the agent's nodes with the cluster's roles: every
// node up, same role, masters and their replicas sharing a shard.
func sameView(agent map[string]nodeView, cluster map[string]string) error {
	if !slices.Equal(slices.Sorted(maps.Keys(agent)), slices.Sorted(maps.Keys(cluster))) {
		return fmt.Errorf("agent watches %v, the cluster has %v", slices.Sorted(maps.Keys(agent)), slices.Sorted(maps.Keys(cluster)))
	}
	perShard := map[string][]string{}
	for addr, role := range cluster {
		v := agent[addr]
		if v.up != 1 || v.role != role {
			return fmt.Errorf("node %s: agent says up %d role %q, the cluster says role %q", addr, v.up, v.role, role)
		}
		perShard[v.shard] = append(perShard[v.shard], role)
	}
	for shard, roles := range perShard {
		slices.Sort(roles)
		if shard != "" && !slices.Equal(roles, []string{"master", "replica"}) {
			return fmt.Errorf("shard %q has %v, want one master and one replica", shard, roles)
		}
	}
	return nil
}

// settledRoles waits until the cluster agrees with itself, and returns its
// roles ("host:port" -> "master" or "replica"): the seed's CLUSTER NODES
// lists exactly c's nodes, each node's own ROLE says the same, and so does
// every node's CLUSTER NODES (a node whose gossip lags can still list a
// failed-over master as a master without slots).
func settledRoles(t *testing.T, c *redisserver.Cluster) map[string]string {
	t.Helper()
	var roles map[string]string
	redistest.Eventually(t, waitFor, func() error {
		r, err := clusterRoles(t, c.Nodes[0])
		if err != nil {
			return err
		}
		if len(r) != len(c.Nodes) {
			return fmt.Errorf("the seed lists %v, the cluster has %d nodes", r, len(c.Nodes))
		}
		for _, n := range c.Nodes {
			if own := ownRole(t, n); r[n.Addr()] != own {
				return fmt.Errorf("node %s: the seed says %q, its ROLE %q", n.Addr(), r[n.Addr()], own)
			}
			view, err := clusterRoles(t, n)
			if err != nil {
				return err
			}
			if !maps.Equal(view, r) {
				return fmt.Errorf("node %s lists %v, the seed %v", n.Addr(), view, r)
			}
		}
		roles = r
		return nil
	})
	return roles
}

// ownRole is a server's role by its own ROLE reply: "master", "replica",
// or the error.
func ownRole(t *testing.T, s *redisserver.Server) string {
	reply, err := s.Admin().Do(t.Context(), "ROLE").Slice()
	if err != nil || len(reply) == 0 {
		return fmt.Sprintf("ROLE: %v %v", reply, err)
	}
	if reply[0] == "slave" {
		return "replica"
	}
	return fmt.Sprint(reply[0])
}

// One seed finds every node of a 3+3 cluster, with its role and shard; a
// failover (CLUSTER FAILOVER on a replica) swaps the roles in the agent's
// series; a node that joins is watched, one that leaves is dropped. Each
// change shows in the agent's series within two of the seed's discovery
// passes and two sampling passes of each node once the cluster has settled
// (passCounter counts them).
func TestClusterFromOneSeed(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	seed := c.Nodes[0]
	passes := newPassCounter(redisurl.Redact(seed.URL()))
	ta := startAgent(t, WithRedis(seed.URL()), WithDiscoverEvery(2), passes.option())

	expect := func(what string) {
		t.Helper()
		want := settledRoles(t, c)
		passes.within(t, ta, 2, what, func() error {
			m, err := ta.points()
			if err != nil {
				return err
			}
			return sameView(nodeViews(m[metricUp]), want)
		})
	}
	expect("from one seed")

	// Failover: a replica of another node than the seed takes over.
	var replica *redisserver.Server
	roles, err := clusterRoles(t, seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes[1:] {
		if roles[n.Addr()] == "replica" {
			replica = n
			break
		}
	}
	if replica == nil {
		t.Fatalf("no replica among %v", roles)
	}
	failOver(t, seed, replica)
	expect("after the failover")

	// A node joins (a master without slots: a shard of its own, empty).
	joined, err := c.AddNode(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = joined.Close() }) // still closed after it leaves c.Nodes
	if err := c.WaitStable(waitFor); err != nil {
		t.Fatal(err)
	}
	expect("after a node joined")

	// It leaves: stopped, and forgotten by every other node.
	id, err := joined.Admin().Do(t.Context(), "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	if err := joined.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes[:len(c.Nodes)-1] {
		if err := n.Admin().Do(t.Context(), "CLUSTER", "FORGET", id).Err(); err != nil {
			t.Fatalf("CLUSTER FORGET on %s: %v", n.Addr(), err)
		}
	}
	c.Nodes = c.Nodes[:len(c.Nodes)-1]
	expect("after a node left")
	if !strings.Contains(ta.logs.String(), "no longer listed by its cluster") {
		t.Errorf("no log line for the node that left:\n%s", ta.logs.String())
	}
}

// failOver makes replica take over from its master (CLUSTER FAILOVER) and
// waits until the seed lists it as a master. The command is sent again
// when Redis refuses it (the replica's link to its master is down for a
// moment) or when a manual failover it accepted has not happened within
// Redis's limit for one (CLUSTER_MF_TIMEOUT, 5 s: on a loaded machine the
// master's pause, the replication offsets and the vote may not all fit,
// and Redis then drops it). Not sooner: a new CLUSTER FAILOVER restarts the
// one under way.
func failOver(t *testing.T, seed, replica *redisserver.Server) {
	t.Helper()
	const manualFailoverTimeout = 5 * time.Second
	var sent time.Time
	attempts := 0
	redistest.Eventually(t, 2*waitFor, func() error {
		roles, err := clusterRoles(t, seed)
		if err == nil && roles[replica.Addr()] == "master" {
			return nil
		}
		if ownRole(t, replica) == "replica" && time.Since(sent) > manualFailoverTimeout+time.Second {
			attempts++
			if err := replica.Admin().Do(t.Context(), "CLUSTER", "FAILOVER").Err(); err != nil {
				return fmt.Errorf("CLUSTER FAILOVER (attempt %d): %w", attempts, err)
			}
			sent = time.Now()
		}
		return fmt.Errorf("the failover has not happened yet (%d CLUSTER FAILOVER tried; the seed lists %v, %v)", attempts, roles, err)
	})
	if attempts > 1 {
		t.Logf("CLUSTER FAILOVER tried %d times", attempts)
	}
}

// TestParseClusterNodesReal: a reply captured from redis-server 7.0.15
// while `redis-cli --cluster create` was still attaching replicas (two
// future replicas still masters without slots).
func TestParseClusterNodesReal(t *testing.T) {
	nodes, err := parseClusterNodes(readTestdata(t, "cluster_nodes_7.0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, n := range nodes {
		if n.host != "127.0.0.1" {
			t.Errorf("host %q", n.host)
		}
		got[n.port] = n.shard
	}
	want := map[int]string{30101: "0-5460", 30102: "5461-10922", 30103: "10923-16383", 30105: "10923-16383", 30104: "", 30106: ""}
	if !maps.Equal(got, want) {
		t.Fatalf("shards by port = %v, want %v", got, want)
	}
}

func TestParseClusterNodesRejects(t *testing.T) {
	for name, text := range map[string]string{
		"empty":      "",
		"garbage":    "hello world\n",
		"no address": "abc :0@0 master,noaddr - 0 0 1 disconnected\n",
		"handshake":  "abc 10.0.0.1:7000@17000 handshake - 0 0 0 connected\n",
		"bad port":   "abc 10.0.0.1:99999@17000 master - 0 0 1 connected 0-5\n",
	} {
		t.Run(name, func(t *testing.T) {
			if nodes, err := parseClusterNodes(text); err == nil {
				t.Fatalf("parseClusterNodes(%q) = %v, want an error", text, nodes)
			}
		})
	}
}

// FuzzParseClusterNodes: any reply gives nodes with a host and a valid
// port, or an error of bounded size; never a panic.
func FuzzParseClusterNodes(f *testing.F) {
	f.Add(readTestdata(f, "cluster_nodes_7.0.txt"))
	for _, s := range []string{"", "\n", "a b c d e f g h", "a :@ m - 0 0 0 c", "id [::1]:7000@17000,host master - 0 0 1 connected 0 [5->-x] 7-9",
		"id 10.0.0.1:7000@17000 slave m 0 0 1 connected\nm 10.0.0.2:7000@17000 master - 0 0 1 connected 0-16383"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		nodes, err := parseClusterNodes(text)
		if err != nil {
			if len(err.Error()) > 400 { // a clipped excerpt, escaped by %q
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		for _, n := range nodes {
			if n.host == "" || n.port <= 0 || n.port > 65535 {
				t.Fatalf("node %+v from %q", n, text)
			}
		}
	})
}

// FuzzNodesFromShards: whatever a CLUSTER SHARDS reply's fields hold, the
// nodes kept have a host and a valid port, and the shard names the slots.
func FuzzNodesFromShards(f *testing.F) {
	f.Add("127.0.0.1", "127.0.0.1", int64(7000), int64(0), int64(0), int64(5460), false)
	f.Add("?", "10.0.0.1", int64(7000), int64(7443), int64(5), int64(5), true)
	f.Add("", "", int64(-1), int64(70000), int64(9), int64(1), true)
	f.Fuzz(func(t *testing.T, endpoint, ip string, port, tlsPort, start, end int64, useTLS bool) {
		shards := []redis.ClusterShard{{
			Slots: []redis.SlotRange{{Start: start, End: end}},
			Nodes: []redis.Node{{Endpoint: endpoint, IP: ip, Port: port, TLSPort: tlsPort, Role: "master"}},
		}}
		for _, n := range nodesFromShards(shards, useTLS) {
			if n.host == "" || n.port <= 0 || n.port > 65535 || n.shard == "" {
				t.Fatalf("node %+v", n)
			}
		}
	})
}

// A cluster node whose ACL refuses CLUSTER SHARDS and NODES is watched
// alone, and the agent says why once, however many passes see it.
func TestClusterTopologyRefused(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	seed := c.Nodes[0]
	if err := seed.Admin().Do(t.Context(), "ACL", "SETUSER", "mon", "on", ">pw", "-@all",
		"+hello", "+info", "+client|list", "+client|setname", "+client|id", "+ping").Err(); err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, WithRedis(seed.URLFor("mon", "pw")), WithDiscoverEvery(2))
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		if d := m[metricClientListDuration]; len(d) != 1 || d[0].value < 7 {
			return fmt.Errorf("CLIENT LIST runs: %v, want at least 7 passes", d)
		}
		if v := nodeViews(m[metricUp]); len(v) != 1 || v[seed.Addr()].up != 1 || v[seed.Addr()].role != "master" {
			return fmt.Errorf("agent's nodes %v, want the seed alone, up, master", v)
		}
		return nil
	})
	if n := strings.Count(ta.logs.String(), "cannot read the cluster's nodes"); n != 1 {
		t.Fatalf("the refusal was logged %d times, want once:\n%s", n, ta.logs.String())
	}
}

// During a failover the nodes' views disagree: the new master can still
// list the old one as a master without slots after the old one lists
// itself as the new master's replica. A node's shard follows its own view
// once it has given one, whatever order the views are applied in.
func TestShardByTheNodesOwnView(t *testing.T) {
	oldMaster, err := newServer("redis://127.0.0.1:30001", nil)
	if err != nil {
		t.Fatal(err)
	}
	newMaster, err := newServer("redis://127.0.0.1:30002", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{logger: slog.New(slog.DiscardHandler), problems: newProblems(slog.New(slog.DiscardHandler)), runCtx: t.Context()}
	a.setServers([]*server{oldMaster, newMaster})
	shards := func() [2]string { return [2]string{*oldMaster.shard.Load(), *newMaster.shard.Load()} }
	node := func(s *server, shard string) clusterNode {
		return clusterNode{host: s.host, port: s.port, shard: shard}
	}

	// Before either has answered for itself, another node's view is taken.
	a.applyTopology(newMaster, "", []clusterNode{node(oldMaster, ""), node(newMaster, "0-5460")})
	if got := shards(); got != [2]string{"", "0-5460"} {
		t.Fatalf("from the new master's lagging view: shards %q", got)
	}
	// The old master's own view: it is the new master's replica.
	a.applyTopology(oldMaster, "", []clusterNode{node(oldMaster, "0-5460"), node(newMaster, "0-5460")})
	// The new master's view, still lagging, comes last.
	a.applyTopology(newMaster, "", []clusterNode{node(oldMaster, ""), node(newMaster, "0-5460")})
	if got := shards(); got != [2]string{"0-5460", "0-5460"} {
		t.Fatalf("after each node's own view: shards %q, want both 0-5460", got)
	}
}

// A seed given by a name (as a Kubernetes Service or a DNS name would be)
// is one server, not two: the cluster lists it by its announced address,
// and the agent tells it apart by its cluster ID (CLUSTER MYID), in its
// own view and in every other node's.
func TestClusterSeedByName(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	ctx := redistest.Context(t, time.Minute)
	seedURL := strings.Replace(c.Nodes[0].URL(), "127.0.0.1", "localhost", 1)
	passes := newPassCounter(redisurl.Redact(seedURL))
	ta := startAgent(t, WithRedis(seedURL), WithDiscoverEvery(2), passes.option())

	want := []string{net.JoinHostPort("localhost", strconv.Itoa(c.Nodes[0].Port))}
	for _, n := range c.Nodes[1:] {
		want = append(want, n.Addr())
	}
	slices.Sort(want)
	watched := func() error {
		m, err := ta.points()
		if err != nil {
			return err
		}
		views := nodeViews(m[metricUp])
		if got := slices.Sorted(maps.Keys(views)); !slices.Equal(got, want) {
			return fmt.Errorf("the agent watches %v, want %v", got, want)
		}
		for addr, v := range views {
			if v.up != 1 || v.shard == "" {
				return fmt.Errorf("node %s: up %d shard %q", addr, v.up, v.shard)
			}
		}
		return nil
	}
	passes.within(t, ta, 2, "from the seed by name", watched)
	// Every other node has answered twice, so its view of the seed (by
	// its announced address) has been applied at least once.
	redistest.Eventually(t, waitFor, func() error {
		for _, n := range c.Nodes[1:] {
			calls, err := commandCalls(ctx, n)
			if err != nil {
				return err
			}
			if calls["cluster|shards"] < 2 {
				return fmt.Errorf("node %s answered CLUSTER SHARDS %d times", n.Addr(), calls["cluster|shards"])
			}
		}
		return nil
	})
	if err := watched(); err != nil {
		t.Fatalf("after every node's view: %v", err)
	}
}
