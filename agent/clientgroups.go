package agent

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// clientList returns the server's connections grouped by client name: from
// a new CLIENT LIST when this pass is due one, from the last one otherwise,
// and none when the server has too many clients for CLIENT LIST (counted as
// a skip) or CLIENT LIST is off.
func (a *Agent) clientList(ctx context.Context, s *server, info redisInfo, pass int, attrs []attribute.KeyValue, measure metric.MeasurementOption) []groupSample {
	limit := a.cfg.clientListMaxClients
	if limit == 0 || !info.has(fieldConnected) {
		return nil
	}
	key := "redis " + s.display + " client-list-skipped"
	if info.connected > int64(limit) {
		a.inst.clientListSkipped.Add(ctx, 1, measure)
		a.problems.report(slog.LevelInfo, key, "agent: CLIENT LIST skipped: the server has more clients than the threshold",
			"server", s.display, "clients", info.connected, "threshold", limit)
		s.groups, s.haveGroups = nil, false
		return nil
	}
	a.problems.resolve(key, "agent: CLIENT LIST resumed", "server", s.display, "clients", info.connected)

	every := a.cfg.clientListEvery
	if every == 0 {
		every = 1
		if info.connected > clientListBusyClients {
			every = clientListBusyEvery
		}
	}
	if s.haveGroups && pass%every != 0 {
		return s.groups
	}
	start := time.Now()
	reply, err := s.client.ClientList(ctx).Result()
	if err != nil {
		a.problems.warn("redis "+s.display+" client-list-error: "+errorKind(err), "agent: CLIENT LIST failed; poolscope.server.connections is not reported",
			"server", s.display, "error", err)
		s.groups, s.haveGroups = nil, false
		return nil
	}
	a.inst.clientListDuration.Record(ctx, time.Since(start).Seconds(), measure)
	a.problems.resolve("redis "+s.display+" client-list-error: ", "")
	entries, perr := parseClientList(reply)
	if perr != nil {
		a.problems.warn("redis "+s.display+" client-list-parse", "agent: unexpected CLIENT LIST lines were left out",
			"server", s.display, "error", perr)
	} else {
		a.problems.resolve("redis "+s.display+" client-list-parse", "")
	}
	groups := groupClients(entries, s.ownID.Load(), a.cfg.topNames)
	samples := make([]groupSample, len(groups), len(groups)+len(s.groups))
	for i, g := range groups {
		samples[i] = groupSample{attrs: metric.WithAttributeSet(groupAttributes(g.name, attrs)), clientGroup: g}
	}
	samples = append(samples, vanished(s.groups, groups, start)...)
	s.groups, s.haveGroups = samples, true
	return samples
}

// vanishedLinger is how long a client name that left the server is still
// reported, with 0 connections, before its series ends. A series that just
// stops keeps its last count in a Prometheus behind a collector until the
// collector's metric_expiration (5 minutes by default): a phantom group. Two
// minutes lets at least one export of the 0 through at the SDK's default
// 60 s export interval.
const vanishedLinger = 2 * time.Minute

// vanished returns the groups of prev that are not in now, at 0
// connections, each stamped with when it was first seen gone; those gone
// for longer than vanishedLinger are dropped.
func vanished(prev []groupSample, now []clientGroup, at time.Time) []groupSample {
	present := make(map[string]bool, len(now))
	for _, g := range now {
		present[g.name] = true
	}
	var out []groupSample
	for _, g := range prev {
		if present[g.name] {
			continue
		}
		if g.goneSince.IsZero() {
			g.goneSince = at
			g.count, g.ageMax, g.idleMax = 0, 0, 0
		}
		if at.Sub(g.goneSince) < vanishedLinger {
			out = append(out, g)
		}
	}
	return out
}
