package agent

import (
	"context"
	"strings"
	"time"
)

// With the server metrics off (WithServerMetrics(false)) a server is kept
// for attribution only: discovery counts each process's connections to it
// by its address, and the agent never sends it INFO or CLIENT LIST. What
// the agent still asks is the topology, so that one seed keeps finding a
// cluster's nodes: runTopology replaces runServer. A server found through
// Sentinel is asked nothing (the Sentinels are, by runSentinel).

// runTopology follows s's cluster until ctx ends: it asks s for the
// cluster's nodes at once, then at every discovery pass (interval x
// discoverEvery). It stops asking, and closes its connection, when s turns
// out not to be a cluster node, or refuses to say (askTopology).
func (a *Agent) runTopology(ctx context.Context, s *server) {
	defer s.closeClient()
	a.atDiscoveryRate(ctx, func() bool { return a.askTopology(ctx, s) })
}

// atDiscoveryRate runs pass at once, then at every discovery pass
// (interval x discoverEvery), until ctx ends or pass returns false.
func (a *Agent) atDiscoveryRate(ctx context.Context, pass func() (again bool)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if !pass() {
			return
		}
		timer.Reset(a.cfg.interval * time.Duration(a.cfg.discoverEvery))
	}
}

// askTopology runs one topology pass against s and reports whether to ask
// again at the next discovery pass:
//   - the nodes come back: applied (as a sampled seed's are), ask again;
//   - s is unreachable: said once, ask again (its connection closed, so
//     that the discovery rate is the only retry);
//   - s refuses, and has never answered as a cluster node (a configured
//     server): it is not a cluster node ("cluster support disabled", said
//     at debug level), or the agent may not ask (NOAUTH, WRONGPASS,
//     NOPERM: said once, at info level); either way its connections are
//     still counted by address, and s is not asked again;
//   - any other refusal (LOADING after a restart, BUSY, a cluster node's
//     ACL): said once, ask again; the watched nodes stay as they are.
func (a *Agent) askTopology(ctx context.Context, s *server) bool {
	timeout := passTimeout(a.cfg.interval)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if s.client == nil {
		s.client = s.newClient(timeout)
	}
	var err error
	a.hookedPass(s.display, func() { err = a.followCluster(cctx, s) })
	switch {
	case err == nil:
		s.clusterNode = true
		return true
	case ctx.Err() != nil:
		return false // shutting down
	case !isRedisError(err):
		s.closeClient()
		a.problems.warn(topologyKey(s), "agent: Redis server not answering; its cluster topology is asked again at the next discovery pass",
			"server", s.display, "error", err)
		return true
	case !s.clusterNode && !s.discovered && notClusterNode(err):
		a.logger.Debug("agent: not a cluster node; its connections are counted by address, nothing more is asked", "server", s.display)
		return false
	case !s.clusterNode && !s.discovered && refusesToSay(err):
		a.logger.Info("agent: the server refuses to say whether it is a cluster node; its connections are counted by address, no cluster behind it is followed (give the URL the credentials for CLUSTER SHARDS to follow one)",
			"server", s.display, "error", err)
		return false
	default:
		a.topologyFailed(s, err)
		return true
	}
}

// viaSentinel reports whether s was found through a Sentinel watch.
func (s *server) viaSentinel() bool { return strings.HasPrefix(s.clusterOf, "sentinel:") }
