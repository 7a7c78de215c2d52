package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/secret"
)

// With Sentinel, the agent asks the Sentinels at every discovery pass for
// the master they know under a name and its replicas, and watches those
// servers (applyTopology, as for a cluster): a failover changes the roles
// in each server's own INFO at the next pass; a replica Sentinel no longer
// lists is dropped.

// sentinelWatch is one monitored master: its name, the Sentinels, their
// password, and the URL (credentials, TLS, database) its servers are
// reached with, its host replaced by each server's address.
type sentinelWatch struct {
	masterName string
	addrs      []string
	password   secret.String
	nodeURL    string
}

// WithSentinel watches the master that the Sentinels at addrs (host:port)
// know as masterName, and its replicas, following failovers. The servers
// are reached as nodeURL says (redis://[user:password@]any-host:port/db or
// rediss://...), with each server's address in place of its host; "" is
// redis:// without credentials. sentinelPassword authenticates to the
// Sentinels ("" none).
func WithSentinel(masterName string, addrs []string, sentinelPassword, nodeURL string) Option {
	return optionFunc(func(c *config) {
		c.sentinels = append(c.sentinels, sentinelWatch{masterName: masterName, addrs: addrs,
			password: secret.String(sentinelPassword), nodeURL: nodeURL})
	})
}

// startSentinel checks a watch and prepares the server that stands for it
// in applyTopology: never sampled, it lends its URL and TLS settings to the
// servers found.
func (a *Agent) sentinelTemplate(w sentinelWatch) (*server, error) {
	u := w.nodeURL
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	s, err := newServer(u, a.cfg.tlsConfig)
	if err != nil {
		return nil, err
	}
	s.display = "sentinel master " + strconv.Quote(w.masterName)
	s.clusterOf = "sentinel:" + w.masterName + "@" + strings.Join(w.addrs, ",")
	return s, nil
}

// runSentinel follows one master until ctx ends, at the discovery rate.
func (a *Agent) runSentinel(ctx context.Context, w sentinelWatch, tmpl *server) {
	a.atDiscoveryRate(ctx, func() bool {
		a.hookedPass(tmpl.display, func() { a.followSentinel(ctx, w, tmpl) })
		return true
	})
}

// followSentinel asks the Sentinels, in order, until one answers, and
// applies its view. None answering, or none knowing the name, is said once
// and leaves the watched servers as they are.
func (a *Agent) followSentinel(ctx context.Context, w sentinelWatch, tmpl *server) {
	key := "sentinel " + w.masterName
	var errs []error
	for _, addr := range w.addrs {
		nodes, err := askSentinel(ctx, addr, w, passTimeout(a.cfg.interval))
		if err == nil {
			a.problems.resolve(key, "agent: Sentinel answers again", "master", w.masterName, "sentinel", addr)
			a.applyTopology(tmpl, "", nodes)
			return
		}
		if ctx.Err() != nil {
			return
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	a.problems.warn(key, "agent: no Sentinel gave the master's servers; the watched servers stay as they are",
		"master", w.masterName, "error", errors.Join(errs...))
}

// askSentinel reads the master's address and its replicas' from one
// Sentinel.
func askSentinel(ctx context.Context, addr string, w sentinelWatch, timeout time.Duration) ([]clusterNode, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: w.password.Value(), ClientName: ClientName,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, PoolSize: 1,
		DisableIdentity: true, MaintNotificationsConfig: noMaintNotifications()})
	defer c.Close()
	master, err := c.GetMasterAddrByName(ctx, w.masterName).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("agent: the Sentinel does not know master %q", w.masterName)
		}
		return nil, err
	}
	replicas, err := c.Replicas(ctx, w.masterName).Result()
	if err != nil {
		return nil, err
	}
	return sentinelNodes(master, replicas)
}

// sentinelNodes turns GET-MASTER-ADDR-BY-NAME's [host port] and REPLICAS'
// field maps into nodes; replicas without an address are left out.
func sentinelNodes(master []string, replicas []map[string]string) ([]clusterNode, error) {
	if len(master) != 2 {
		return nil, fmt.Errorf("agent: Sentinel's master address %q is not [host port]", master)
	}
	nodes := make([]clusterNode, 0, 1+len(replicas))
	for _, hp := range append([][2]string{{master[0], master[1]}}, replicaAddrs(replicas)...) {
		port, err := strconv.Atoi(hp[1])
		if err != nil || hp[0] == "" || port <= 0 || port > 65535 {
			if len(nodes) == 0 {
				return nil, fmt.Errorf("agent: Sentinel's master address %q is not host and port", net.JoinHostPort(clip(hp[0]), clip(hp[1])))
			}
			continue
		}
		nodes = append(nodes, clusterNode{host: hp[0], port: port})
	}
	return nodes, nil
}

func replicaAddrs(replicas []map[string]string) [][2]string {
	out := make([][2]string, 0, len(replicas))
	for _, r := range replicas {
		out = append(out, [2]string{r["ip"], r["port"]})
	}
	return out
}
