package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// passTimeout bounds one pass's commands: the interval, but at least 1s (a
// loaded server still answers INFO in time) and at most 5s.
func passTimeout(interval time.Duration) time.Duration {
	return min(max(interval, time.Second), 5*time.Second)
}

// runServer samples one server until ctx ends: at every interval while it
// answers, with a doubling back-off (capped at maxBackoff) while it does not.
func (a *Agent) runServer(ctx context.Context, s *server) {
	defer s.closeClient()
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for pass := 0; ; pass++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		answered := false
		a.hookedPass(samplingSource(s.display), func() { answered = a.sampleServer(ctx, s, pass) })
		if answered {
			failures = 0
			timer.Reset(a.cfg.interval)
			continue
		}
		failures++
		timer.Reset(backoff(a.cfg.interval, a.cfg.maxBackoff, failures))
	}
}

// samplingSource names a server's sampling passes to the tests' pass hook
// (config.passHook).
func samplingSource(display string) string { return "sampling " + display }

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
		s.snapshot.Store(&serverSnapshot{measure: s.currentMeasure(), up: false})
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
	if info.cluster && pass%a.cfg.discoverEvery == 0 {
		a.hookedPass(s.display, func() {
			if err := a.followCluster(cctx, s); err != nil {
				a.topologyFailed(s, err)
			}
		})
	}
	attrs, measure, changed := s.labels(info.role)
	if changed {
		// The skip counter exists from the first pass, at 0, so that "no
		// CLIENT LIST skipped" is a series with a value rather than no data.
		a.inst.clientListSkipped.Add(ctx, 0, measure)
		s.groups, s.haveGroups = nil, false // their labels are the old ones
	}
	groups := a.clientList(cctx, s, info, pass, attrs, measure)
	s.snapshot.Store(&serverSnapshot{measure: measure, cpu: s.labelCPU, up: true, info: info, groups: groups})
	return true
}

// info sends "INFO clients stats replication cluster cpu" (one reply with
// every section, Redis 7.0+), or plain INFO on older servers, which refuse
// several sections.
func (a *Agent) info(ctx context.Context, s *server) (string, error) {
	if !s.infoAll {
		raw, err := s.client.Info(ctx, "clients", "stats", "replication", "cluster", "cpu").Result()
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
