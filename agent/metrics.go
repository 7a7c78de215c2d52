package agent

import (
	"time"

	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/processconv"

	"github.com/poolscope/poolscope/internal/latency"
)

// Metric names. They are a public interface: dashboards and alerts use
// their Prometheus forms (see the package documentation).
const (
	metricMemoryUsage        = "process.memory.usage"
	metricMemoryVirtual      = "process.memory.virtual"
	metricMemoryPSS          = "poolscope.process.memory.pss"
	metricProcessConnections = "poolscope.process.redis.connections"
	metricClientsConnected   = "redis.clients.connected"
	metricClientsBlocked     = "redis.clients.blocked"
	metricClientsMax         = "redis.clients.max"
	metricConnsReceived      = "redis.connections.received"
	metricConnsRejected      = "redis.connections.rejected"
	metricCPUTime            = "redis.cpu.time"
	metricServerConnections  = "poolscope.server.connections"
	metricConnectionAgeMax   = "poolscope.server.connection.age.max"
	metricConnectionIdleMax  = "poolscope.server.connection.idle.max"
	metricUp                 = "poolscope.redis.up"
	metricClientListSkipped  = "poolscope.agent.client_list.skipped"
	metricClientListDuration = "poolscope.agent.client_list.duration"
)

// Attribute keys. The process and server keys are the semantic
// conventions'; the redis.client and poolscope.client keys are poolscope's.
const (
	attrProcessPID     = attribute.Key("process.pid")
	attrExecutableName = attribute.Key("process.executable.name")
	attrServerAddress  = attribute.Key("server.address")
	attrServerPort     = attribute.Key("server.port")
	attrRedisRole      = attribute.Key("poolscope.redis.role")
	attrRedisShard     = attribute.Key("poolscope.redis.shard")
	attrCPUState       = attribute.Key("state") // redis.cpu.time's, as the Collector's redis receiver names it
	attrContainerID    = attribute.Key("container.id")
	attrPodUID         = attribute.Key("k8s.pod.uid")

	attrClientName    = attribute.Key("redis.client.name")
	attrClientService = attribute.Key("poolscope.client.service")
	attrClientRole    = attribute.Key("poolscope.client.role")
	attrClientPID     = attribute.Key("poolscope.client.pid")
)

// instruments are created once by newInstruments; the observable ones are
// read by one callback (Agent.observe) from the latest snapshots.
type instruments struct {
	memUsage, memVirtual, memPSS, procConns metric.Int64ObservableUpDownCounter

	clientsConnected, clientsBlocked, clientsMax metric.Int64ObservableGauge
	connsReceived, connsRejected                 metric.Int64ObservableCounter
	cpuTime                                      metric.Float64ObservableCounter

	serverConns     metric.Int64ObservableUpDownCounter
	ageMax, idleMax metric.Int64ObservableGauge
	up              metric.Int64ObservableGauge

	clientListSkipped  metric.Int64Counter
	clientListDuration metric.Float64Histogram
}

func newInstruments(m metric.Meter) (instruments, []metric.Observable, error) {
	var in instruments
	var errs []error
	udc := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		i, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		i, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		i, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}

	// The semantic conventions' process memory metrics are UpDownCounters;
	// processconv only has synchronous constructors, so the observable
	// instruments borrow its name, unit and description.
	in.memUsage = udc(processconv.MemoryUsage{}.Name(), processconv.MemoryUsage{}.Unit(), processconv.MemoryUsage{}.Description())
	in.memVirtual = udc(processconv.MemoryVirtual{}.Name(), processconv.MemoryVirtual{}.Unit(), processconv.MemoryVirtual{}.Description())
	in.memPSS = udc(metricMemoryPSS, "By", "Proportional set size: resident memory with each shared page divided among the processes that map it (smaps_rollup).")
	in.procConns = udc(metricProcessConnections, "{connection}", "Open connections from the process to the Redis server.")

	in.clientsConnected = gauge(metricClientsConnected, "{client}", "Client connections to the Redis server, without the agent's own (INFO connected_clients - 1).")
	in.clientsBlocked = gauge(metricClientsBlocked, "{client}", "Clients blocked in a blocking call (INFO blocked_clients).")
	in.clientsMax = gauge(metricClientsMax, "{client}", "The server's client limit (maxclients).")
	in.connsReceived = counter(metricConnsReceived, "{connection}", "Connections accepted by the Redis server since it started (INFO total_connections_received).")
	in.connsRejected = counter(metricConnsRejected, "{connection}", "Connections rejected by the Redis server because of maxclients (INFO rejected_connections).")

	var err error
	in.cpuTime, err = m.Float64ObservableCounter(metricCPUTime, metric.WithUnit("s"),
		metric.WithDescription("CPU time consumed by the Redis server since it started, per state (INFO cpu used_cpu_*)."))
	errs = append(errs, err)

	in.serverConns = udc(metricServerConnections, "{connection}", "Connections to the Redis server per client name (CLIENT LIST), top N names plus \"other\".")
	in.ageMax = gauge(metricConnectionAgeMax, "s", "Age of the oldest connection per client name (CLIENT LIST age).")
	in.idleMax = gauge(metricConnectionIdleMax, "s", "Longest idle time of a connection per client name (CLIENT LIST idle).")
	in.up = gauge(metricUp, "{status}", "1 when the agent's last INFO to the Redis server succeeded, 0 when not.")

	in.clientListSkipped, err = m.Int64Counter(metricClientListSkipped, metric.WithUnit("{scrape}"),
		metric.WithDescription("CLIENT LIST runs skipped because the server had more clients than the threshold."))
	errs = append(errs, err)
	in.clientListDuration, err = m.Float64Histogram(metricClientListDuration, metric.WithUnit("s"),
		metric.WithDescription("Time the agent's CLIENT LIST took, reply included."),
		metric.WithExplicitBucketBoundaries(latency.Copy()...))
	errs = append(errs, err)

	observables := []metric.Observable{
		in.memUsage, in.memVirtual, in.memPSS, in.procConns,
		in.clientsConnected, in.clientsBlocked, in.clientsMax, in.connsReceived, in.connsRejected,
		in.cpuTime, in.serverConns, in.ageMax, in.idleMax, in.up,
	}
	return in, observables, errors.Join(errs...)
}

// processSample is one process's latest reading. Its measurement options
// (attribute sets) are built when the process is selected, not per pass.
type processSample struct {
	attrs         metric.MeasurementOption // process.pid, process.executable.name
	rss, vms, pss int64
	hasPSS        bool
	conns         []connSample // one per server, when the fd scan succeeded
}

type connSample struct {
	attrs metric.MeasurementOption // process attributes + server.address, server.port
	n     int64
}

// serverSnapshot is one server's latest reading, replaced as a whole after
// every pass: the callback reads a consistent picture without locks, and
// a slow export never holds up sampling.
type serverSnapshot struct {
	measure metric.MeasurementOption // server.address, server.port, role, shard
	up      bool
	info    redisInfo                               // valid when up
	cpu     *[numCPUStates]metric.MeasurementOption // measure plus each CPU state
	groups  []groupSample
}

type groupSample struct {
	attrs metric.MeasurementOption
	clientGroup
	// goneSince is when the name was first missing from CLIENT LIST; the
	// group is then reported at 0 for a while (see vanishedLinger).
	goneSince time.Time
}

// observe reports the latest snapshots. Only live processes and reachable
// servers are in them, so nothing stale is ever reported.
func (a *Agent) observe(_ context.Context, o metric.Observer) error {
	in := &a.inst
	if ps := a.procs.Load(); ps != nil {
		for i := range *ps {
			p := &(*ps)[i]
			o.ObserveInt64(in.memUsage, p.rss, p.attrs)
			o.ObserveInt64(in.memVirtual, p.vms, p.attrs)
			if p.hasPSS {
				o.ObserveInt64(in.memPSS, p.pss, p.attrs)
			}
			for _, c := range p.conns {
				o.ObserveInt64(in.procConns, c.n, c.attrs)
			}
		}
	}
	for _, s := range a.serverList() {
		snap := s.snapshot.Load()
		if snap == nil {
			continue // not sampled yet
		}
		m := snap.measure
		if !snap.up {
			o.ObserveInt64(in.up, 0, m)
			continue
		}
		o.ObserveInt64(in.up, 1, m)
		info := &snap.info
		if info.has(fieldConnected) {
			// The agent's own connection is one of connected_clients.
			o.ObserveInt64(in.clientsConnected, max(info.connected-1, 0), m)
		}
		if info.has(fieldBlocked) {
			o.ObserveInt64(in.clientsBlocked, info.blocked, m)
		}
		if info.has(fieldMaxClients) {
			o.ObserveInt64(in.clientsMax, info.maxClients, m)
		}
		if info.has(fieldReceived) {
			o.ObserveInt64(in.connsReceived, info.received, m)
		}
		if info.has(fieldRejected) {
			o.ObserveInt64(in.connsRejected, info.rejected, m)
		}
		for c := range numCPUStates {
			if info.hasCPU(c) {
				o.ObserveFloat64(in.cpuTime, info.cpu[c], snap.cpu[c])
			}
		}
		for i := range snap.groups {
			g := &snap.groups[i]
			o.ObserveInt64(in.serverConns, g.count, g.attrs)
			o.ObserveInt64(in.ageMax, g.ageMax, g.attrs)
			o.ObserveInt64(in.idleMax, g.idleMax, g.attrs)
		}
	}
	return nil
}
