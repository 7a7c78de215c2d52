package instrument_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// clusterNode is a redis-server in cluster mode with its bus port.
type clusterNode struct {
	*redisserver.Server
	bus int
}

// startClusterNode starts a redis-server in cluster mode, its bus on a
// port of its own (by default the bus is the port + 10000, which may not
// exist or be free).
func startClusterNode(t *testing.T) clusterNode {
	t.Helper()
	bus, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := redistest.Start(t, redisserver.Options{Args: []string{
		"--cluster-enabled", "yes",
		"--cluster-port", strconv.Itoa(bus),
		"--cluster-node-timeout", "5000",
	}})
	return clusterNode{s, bus}
}

// meet introduces n to the cluster that to belongs to.
func (n clusterNode) meet(t *testing.T, ctx context.Context, to clusterNode) {
	t.Helper()
	if err := n.Admin().Do(ctx, "CLUSTER", "MEET", to.Host, to.Port, to.bus).Err(); err != nil {
		t.Fatalf("CLUSTER MEET from %s: %v", n.Addr(), err)
	}
}

// startCluster forms a cluster of n masters, the slots split evenly.
func startCluster(t *testing.T, ctx context.Context, n int) []clusterNode {
	t.Helper()
	nodes := make([]clusterNode, n)
	for k := range nodes {
		nodes[k] = startClusterNode(t)
	}
	per := 16384 / n
	for k, s := range nodes {
		lo, hi := k*per, (k+1)*per-1
		if k == n-1 {
			hi = 16383
		}
		if err := s.Admin().Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE on %s: %v", s.Addr(), err)
		}
	}
	for _, s := range nodes[1:] {
		s.meet(t, ctx, nodes[0])
	}
	waitClusterOK(t, ctx, nodes)
	return nodes
}

// waitClusterOK waits until every node sees all the others and every slot.
func waitClusterOK(t *testing.T, ctx context.Context, nodes []clusterNode) {
	t.Helper()
	redistest.Eventually(t, waitLong, func() error {
		for _, s := range nodes {
			info, err := s.Admin().ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(nodes))) {
				return fmt.Errorf("node %s not ready: %s", s.Addr(), strings.Join(strings.Fields(info)[:3], " "))
			}
		}
		return nil
	})
}

// nodeClients maps each node address to the cluster client's node client.
func nodeClients(t *testing.T, ctx context.Context, cc *redis.ClusterClient) map[string]*redis.Client {
	t.Helper()
	var mu sync.Mutex
	out := map[string]*redis.Client{}
	if err := cc.ForEachShard(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		out[c.Options().Addr] = c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeKeys spreads keys over every slot range.
func writeKeys(t *testing.T, ctx context.Context, cc *redis.ClusterClient, prefix string, n int) {
	t.Helper()
	for k := range n {
		if err := cc.Set(ctx, prefix+strconv.Itoa(k), k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterNodesGetTheirOwnPools runs a real three-node cluster: every
// node is its own pool, whether it existed before New (found through
// ForEachShard) or appeared after (OnNewNode), and a node that joins the
// cluster later is added when the client discovers it.
func TestClusterNodesGetTheirOwnPools(t *testing.T) {
	ctx := redistest.Context(t, 2*waitLong)
	nodes := startCluster(t, ctx, 3)

	// checkNodes compares every node's pool with the node client's
	// PoolStats. The cluster client may borrow a connection in the
	// background (a topology reload) between the two reads, so it polls.
	checkNodes := func(t *testing.T, r reader, cc *redis.ClusterClient, prefix string) {
		t.Helper()
		clients := nodeClients(t, ctx, cc)
		var want []string
		for addr := range clients {
			want = append(want, prefix+addr)
		}
		slices.Sort(want)
		r.eventually(t, func(s snapshot) error {
			if got := s.poolNames("db.client.connection.max"); !slices.Equal(got, want) {
				return fmt.Errorf("pools = %v, want one per node %v", got, want)
			}
			for addr, c := range clients {
				st := c.PoolStats()
				got, _ := s.int64("db.client.connection.count", append(state("idle", "regular"), pool(prefix+addr))...)
				if got != int64(st.IdleConns) || got < 1 {
					return fmt.Errorf("node %s: idle = %d, PoolStats.IdleConns = %d (want equal, >= 1)", addr, got, st.IdleConns)
				}
				host, port, _ := strings.Cut(addr, ":")
				p, _ := strconv.Atoi(port)
				if _, ok := s.int64("db.client.connection.max", pool(prefix+addr), attributeString("server.address", host), attributeInt("server.port", p)); !ok {
					return fmt.Errorf("node %s: no server.address/server.port of its own", addr)
				}
			}
			return nil
		})
	}

	t.Run("nodes known before New", func(t *testing.T) {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr()}})
		t.Cleanup(func() { _ = cc.Close() })
		writeKeys(t, ctx, cc, "before:", 50)
		r := newReader(t)
		r.instrumentClientT(t, cc)
		checkNodes(t, r, cc, "")
	})

	t.Run("nodes created after New", func(t *testing.T) {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr()}})
		t.Cleanup(func() { _ = cc.Close() })
		r := newReader(t)
		r.instrumentClientT(t, cc, instrument.WithPoolName("sessions"))
		writeKeys(t, ctx, cc, "after:", 50)
		checkNodes(t, r, cc, "sessions/")
		// Connections dialled after New are tracked on each node's pool.
		s := r.collect(t)
		for addr := range nodeClients(t, ctx, cc) {
			if h, _ := s.hist("db.client.connection.create_time", pool("sessions/"+addr)); h.count < 1 {
				t.Errorf("node %s: create_time count = %d, want >= 1", addr, h.count)
			}
		}

		// A fourth node joins and takes over one empty slot; the client
		// finds it through a MOVED reply and the pool appears.
		joined := startClusterNode(t)
		joined.meet(t, ctx, nodes[0])
		all := append(slices.Clone(nodes), joined)
		redistest.Eventually(t, waitLong, func() error {
			for _, s := range all {
				info, err := s.Admin().ClusterInfo(ctx).Result()
				if err != nil {
					return err
				}
				if !strings.Contains(info, "cluster_known_nodes:4") {
					return fmt.Errorf("%s does not know 4 nodes yet", s.Addr())
				}
			}
			return nil
		})
		key := "joined:key"
		moveSlot(t, ctx, all, key, joined)
		redistest.Eventually(t, waitLong, func() error {
			return cc.Set(ctx, key, "v", 0).Err()
		})
		r.eventually(t, func(s snapshot) error {
			if names := s.poolNames("db.client.connection.max"); !slices.Contains(names, "sessions/"+joined.Addr()) {
				return fmt.Errorf("pools = %v, want the joined node %s", names, joined.Addr())
			}
			return atLeast("db.client.connection.count", 1, append(state("idle", "regular"), pool("sessions/"+joined.Addr()))...)(s)
		})
	})
}

// moveSlot gives the (empty) slot of key to dest, the way resharding
// does: importing on dest, migrating on the owner, then NODE everywhere.
func moveSlot(t *testing.T, ctx context.Context, nodes []clusterNode, key string, dest clusterNode) {
	t.Helper()
	slot, err := dest.Admin().ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int]string{} // by port
	for _, s := range nodes {
		id, err := s.Admin().Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		ids[s.Port] = id
	}
	var owner clusterNode
	for _, s := range nodes {
		n, err := s.Admin().ClusterCountKeysInSlot(ctx, int(slot)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Fatalf("slot %d of %q has %d keys on %s; pick another key", slot, key, n, s.Addr())
		}
		slots, err := s.Admin().ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 && r.Nodes[0].ID == ids[s.Port] {
				owner = s
			}
		}
	}
	if owner.Server == nil {
		t.Fatalf("no node owns slot %d", slot)
	}
	do := func(s clusterNode, args ...any) {
		if err := s.Admin().Do(ctx, append([]any{"CLUSTER", "SETSLOT", slot}, args...)...).Err(); err != nil {
			t.Fatalf("CLUSTER SETSLOT %d %v on %s: %v", slot, args, s.Addr(), err)
		}
	}
	do(dest, "IMPORTING", ids[owner.Port])
	do(owner, "MIGRATING", ids[dest.Port])
	do(dest, "NODE", ids[dest.Port])
	do(owner, "NODE", ids[dest.Port])
	for _, s := range nodes {
		if s.Port != dest.Port && s.Port != owner.Port {
			do(s, "NODE", ids[dest.Port])
		}
	}
	waitClusterOK(t, ctx, nodes)
}
