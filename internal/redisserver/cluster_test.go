package redisserver

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestStartCluster(t *testing.T) {
	c, err := StartCluster(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes, err := c.Nodes[0].Admin().ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	masters, replicas := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		switch f := strings.Fields(line); {
		case strings.Contains(f[2], "master"):
			masters++
		case strings.Contains(f[2], "slave"):
			replicas++
		}
	}
	if masters != 3 || replicas != 3 {
		t.Fatalf("masters %d, replicas %d; want 3 and 3:\n%s", masters, replicas, nodes)
	}
	for _, s := range c.Nodes {
		if s.Port > maxClusterPort {
			t.Errorf("node port %d > %d", s.Port, maxClusterPort)
		}
	}
}
