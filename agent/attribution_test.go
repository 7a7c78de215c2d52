package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// serverMetricNames are every metric the agent makes from sampling a
// server: none of them may appear with WithServerMetrics(false).
var serverMetricNames = []string{
	metricClientsConnected, metricClientsBlocked, metricClientsMax, metricConnsReceived, metricConnsRejected,
	metricCPUTime, metricServerConnections, metricConnectionAgeMax, metricConnectionIdleMax, metricUp,
	metricClientListSkipped, metricClientListDuration,
}

// noServerSeries fails when any server metric has a point.
func noServerSeries(m map[string][]point) error {
	for _, name := range serverMetricNames {
		if len(m[name]) > 0 {
			return fmt.Errorf("%s has %d series; the server metrics are off", name, len(m[name]))
		}
	}
	return nil
}

// commandCalls reads a server's INFO commandstats: calls per command
// ("info", "client|list", "cluster|shards").
func commandCalls(ctx context.Context, s *redisserver.Server) (map[string]int, error) {
	raw, err := s.Admin().Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, line := range strings.Split(raw, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		cmd, isStat := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isStat {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				out[cmd], _ = strconv.Atoi(v)
			}
		}
	}
	return out, nil
}

// clientLists counts the test's own CLIENT LIST calls, so that the
// server's commandstats can show that the agent made none.
type clientLists struct {
	s     *redisserver.Server
	calls int
}

func (c *clientLists) byName(ctx context.Context) (map[string]int, error) {
	c.calls++
	return c.s.ClientsByName(ctx)
}

// agentAgrees checks the agent's series against the server's CLIENT LIST:
// no server series, and each helper's connections to the server counted
// as CLIENT LIST counts its name's (at least one). It returns CLIENT LIST's
// counts for further checks.
func (c *clientLists) agentAgrees(ctx context.Context, t *testing.T, ta *testAgent, helpers ...*helper) (map[string]int, error) {
	m := ta.collect(t)
	if err := noServerSeries(m); err != nil {
		return nil, err
	}
	server, err := c.byName(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range helpers {
		name := pools.ClientName("svc", pools.Master, h.pid)
		if n, _ := processConns(m, h.pid, c.s.Addr()); n != int64(server[name]) || n == 0 {
			return nil, fmt.Errorf("pid %d: the agent counts %d connections to %s, CLIENT LIST %d (%v)", h.pid, n, c.s.Addr(), server[name], server)
		}
	}
	return server, nil
}

// noAgentConnection fails when CLIENT LIST shows a connection of the
// agent's.
func noAgentConnection(server map[string]int, err error) error {
	if err == nil && server[ClientName] != 0 {
		err = fmt.Errorf("the server sees %d agent connections, want none", server[ClientName])
	}
	return err
}

// processConns is the agent's poolscope.process.redis.connections for pid
// to the server at addr ("host:port").
func processConns(m map[string][]point, pid int, addr string) (int64, bool) {
	for _, p := range byAttr(m[metricProcessConnections], attrProcessPID, strconv.Itoa(pid)) {
		if p.str(attrServerAddress)+":"+strconv.FormatInt(p.int(attrServerPort), 10) == addr {
			return p.value, true
		}
	}
	return 0, false
}

// With the server metrics off, the agent counts each process's connections
// to a standalone server exactly as CLIENT LIST does, exports no server
// series, and sends the server neither INFO nor CLIENT LIST
// (commandstats, reset before the agent starts). The server needs a
// password: given in the URL, the agent asks CLUSTER SHARDS once ("cluster
// support disabled") and closes its connection; left out of the URL,
// attribution works all the same (the agent says once that it cannot ask).
func TestServerMetricsOffAttributesOnly(t *testing.T) {
	for _, tc := range []struct {
		name        string
		credentials bool
	}{{"URL with the password", true}, {"URL without credentials", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := redistest.Start(t, redisserver.Options{Password: "data-secret"})
			ctx := redistest.Context(t, time.Minute)
			h := startHelper(t, "3="+s.URL())
			if err := s.Admin().ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			url := s.URLFor("", "")
			if tc.credentials {
				url = s.URL()
			}
			ta := startAgent(t, WithServerMetrics(false), WithDiscover(), WithDiscoverEvery(1), WithRedis(url))
			lists := &clientLists{s: s}
			// Once the server is known not to be a cluster node, the agent
			// holds no connection to it.
			redistest.Eventually(t, waitFor, func() error { return noAgentConnection(lists.agentAgrees(ctx, t, ta, h)) })
			// A workload that connects later is found by a later discovery
			// pass: the agent has run several, still asking nothing.
			h2 := startHelper(t, "2="+s.URL())
			redistest.Eventually(t, waitFor, func() error { return noAgentConnection(lists.agentAgrees(ctx, t, ta, h, h2)) })

			calls, err := commandCalls(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if calls["info"] != 0 || calls["client|list"] != lists.calls {
				t.Fatalf("since the reset the server ran INFO %d times (the test: 0) and CLIENT LIST %d times (the test: %d): %v",
					calls["info"], calls["client|list"], lists.calls, calls)
			}
			// Asked once whether it is a cluster node, at start, over the
			// several discovery passes since (without credentials the
			// refusal is not a call the server counts).
			if tc.credentials && calls["cluster|shards"] != 1 {
				t.Fatalf("CLUSTER SHARDS ran %d times since the reset, want once: %v", calls["cluster|shards"], calls)
			}
			logs := ta.logs.String()
			said := strings.Contains(logs, "refuses to say whether it is a cluster node")
			if said == tc.credentials || strings.Count(logs, "refuses to say") > 1 {
				t.Fatalf("credentials %v: the refusal said %d times, want %v:\n%s", tc.credentials, strings.Count(logs, "refuses to say"), !tc.credentials, logs)
			}
			if strings.Contains(logs, "data-secret") {
				t.Fatalf("the password is in the log:\n%s", logs)
			}
		})
	}
}

// With the server metrics off, one cluster seed still finds every node
// (the topology, CLUSTER SHARDS, at every discovery pass) and a process
// connected to another node is counted against that node; no node is
// sent INFO or CLIENT LIST, and no server series is exported.
func TestServerMetricsOffFollowsCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	ctx := redistest.Context(t, time.Minute)
	seed, other := c.Nodes[0], c.Nodes[2]
	h := startHelper(t, "2="+other.URL())
	for _, n := range c.Nodes {
		if err := n.Admin().ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ta := startAgent(t, WithServerMetrics(false), WithDiscover(), WithDiscoverEvery(1), WithRedis(seed.URL()))
	lists := &clientLists{s: other}
	redistest.Eventually(t, waitFor, func() error {
		if _, err := lists.agentAgrees(ctx, t, ta, h); err != nil {
			return fmt.Errorf("the node is not found through the seed yet? %w", err)
		}
		if got := len(ta.Servers()); got != len(c.Nodes) {
			return fmt.Errorf("the agent knows %d servers, the cluster has %d", got, len(c.Nodes))
		}
		return nil
	})
	for i, n := range c.Nodes {
		calls, err := commandCalls(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		mine := 0
		if n == other {
			mine = lists.calls
		}
		if calls["info"] != 0 || calls["client|list"] != mine {
			t.Errorf("node %d: INFO %d times, CLIENT LIST %d times (the test's: %d): %v", i, calls["info"], calls["client|list"], mine, calls)
		}
		if n == seed && calls["cluster|shards"] == 0 {
			t.Errorf("the seed was never asked CLUSTER SHARDS: %v", calls)
		}
	}
}

// With the server metrics off, the servers a Sentinel names are followed
// (the Sentinel is asked) but never contacted: a process's connections to
// the master are counted, the master sees no agent connection and no
// CLIENT LIST but the test's (its INFO comes from the Sentinel itself).
func TestServerMetricsOffFollowsSentinel(t *testing.T) {
	master := redistest.Start(t, redisserver.Options{})
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	ctx := redistest.Context(t, time.Minute)
	h := startHelper(t, "2="+master.URL())
	if err := master.Admin().ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, WithServerMetrics(false), WithDiscover(), WithDiscoverEvery(1),
		WithSentinel("mymaster", []string{sentinel.Addr()}, "", ""))
	lists := &clientLists{s: master}
	redistest.Eventually(t, waitFor, func() error { return noAgentConnection(lists.agentAgrees(ctx, t, ta, h)) })
	calls, err := commandCalls(ctx, master)
	if err != nil {
		t.Fatal(err)
	}
	if calls["client|list"] != lists.calls {
		t.Fatalf("the master ran CLIENT LIST %d times, the test %d", calls["client|list"], lists.calls)
	}
}

// Start refuses an agent with nothing to report.
func TestServerMetricsOffNeedsProcesses(t *testing.T) {
	_, err := Start(context.Background(), WithServerMetrics(false), WithRedis("redis://127.0.0.1:6379/0"))
	if err == nil || !strings.Contains(err.Error(), "nothing to report") {
		t.Fatalf("Start = %v, want a nothing-to-report error", err)
	}
}
