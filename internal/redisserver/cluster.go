package redisserver

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// maxClusterPort is the highest data port a cluster node may use: its bus
// port is the data port + 10000, and must be a valid port too.
const maxClusterPort = 65535 - 10000

// clusterStableTimeout bounds how long StartCluster waits for a new
// cluster to settle (gossip, replicas attaching with a full sync). A few
// seconds usually; more than startTimeout (15 s) was seen with four -race
// test binaries sharing one core, and a slow start costs nothing when the
// cluster settles sooner.
const clusterStableTimeout = time.Minute

// Cluster is a Redis Cluster of local servers: masters with replicas,
// every slot assigned.
type Cluster struct {
	Nodes []*Server

	replicas int // how many replicas WaitStable waits for
}

// StartCluster starts masters*(1+replicasPerMaster) cluster-enabled servers
// (node timeout 2s, so failovers take seconds), joins them with `redis-cli
// --cluster create` and waits until every node reports cluster_state:ok
// and knows every other. The caller must Close it.
func StartCluster(masters, replicasPerMaster int) (*Cluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, errors.New("redisserver: redis-cli not found in PATH; install it with: " + InstallHint)
	}
	c := &Cluster{replicas: masters * replicasPerMaster}
	addrs := []string{}
	for range masters * (1 + replicasPerMaster) {
		s, err := startClusterNode()
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", fmt.Sprint(replicasPerMaster), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redisserver: redis-cli --cluster create: %v: %s", err, lastLines(string(out), 5))
	}
	if err := c.WaitStable(clusterStableTimeout); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func startClusterNode() (*Server, error) {
	return Start(Options{cluster: true, Args: []string{
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
	}})
}

// AddNode starts one more cluster-enabled server (a master without slots
// once it has joined), appends it to Nodes and introduces it to the first
// node (CLUSTER MEET). Wait for WaitStable before relying on it.
func (c *Cluster) AddNode(ctx context.Context) (*Server, error) {
	s, err := startClusterNode()
	if err != nil {
		return nil, err
	}
	c.Nodes = append(c.Nodes, s)
	if err := c.Nodes[0].Admin().Do(ctx, "CLUSTER", "MEET", s.Host, s.Port).Err(); err != nil {
		return nil, fmt.Errorf("redisserver: CLUSTER MEET %s: %w", s.Addr(), err)
	}
	return s, nil
}

// WaitStable waits until every running node reports cluster_state:ok,
// knows as many connected nodes as are running, and sees every replica
// attached (redis-cli --cluster create reports success before they all
// are).
func (c *Cluster) WaitStable(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := c.stable(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisserver: cluster not stable after %s: %w", timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) stable(ctx context.Context) error {
	running := 0
	for _, s := range c.Nodes {
		if s.Running() {
			running++
		}
	}
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		info, err := s.Admin().ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("node %s: cluster_state not ok", s.Addr())
		}
		nodes, err := s.Admin().ClusterNodes(ctx).Result()
		if err != nil {
			return err
		}
		connected, replicas := 0, 0
		for _, line := range strings.Split(nodes, "\n") {
			if f := strings.Fields(line); len(f) >= 8 && f[7] == "connected" && !strings.Contains(f[2], "fail") {
				connected++
				if strings.Contains(f[2], "slave") {
					replicas++
				}
			}
		}
		if connected != running || replicas < min(c.replicas, running) {
			return fmt.Errorf("node %s sees %d connected nodes (%d replicas); %d are running, %d replicas expected", s.Addr(), connected, replicas, running, c.replicas)
		}
	}
	return nil
}

// Close stops every node.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.Nodes {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
