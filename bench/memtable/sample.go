package memtable

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/agent"
	"github.com/poolscope/poolscope/internal/redisserver"
)

// ProcessSample is one worker's memory and connections as poolscope's agent
// reported them.
type ProcessSample struct {
	Pid int
	// RSS, VMS and PSS in bytes: process.memory.usage,
	// process.memory.virtual and poolscope.process.memory.pss.
	RSS, VMS, PSS int64
	// ServerConns is the server's count of the worker's connections:
	// poolscope.server.connections (CLIENT LIST) summed over the client
	// names whose pid is the worker's, every role and the health checks
	// included.
	ServerConns int64
	// SocketConns is the worker's own count from its file descriptors
	// (poolscope.process.redis.connections), a cross-check.
	SocketConns int64
}

// Metric and attribute names read from the agent (its public interface,
// see the agent package documentation).
const (
	mRSS         = "process.memory.usage"
	mVMS         = "process.memory.virtual"
	mPSS         = "poolscope.process.memory.pss"
	mProcConns   = "poolscope.process.redis.connections"
	mServerConns = "poolscope.server.connections"
	mConnected   = "redis.clients.connected"
	aPID         = attribute.Key("process.pid")
	aClientPID   = attribute.Key("poolscope.client.pid")
)

// sampleProcesses starts poolscope's agent on the given processes and the
// server (PSS on, CLIENT LIST at every pass and without a client limit or
// name cap), collects through a ManualReader until every process has RSS,
// VMS, PSS and a socket count and the server has been read, and stops the
// agent. The agent is started after the workers are steady, so its first
// pass is a steady-state sample.
//
// minConns is the fewest server-side connections a process may have for a
// sample to count (a pools worker has at least its health checks'); a
// CLIENT LIST that has not come back yet then shows up as missing data,
// not as zero connections.
func sampleProcesses(ctx context.Context, srv *redisserver.Server, pids []int, minConns int64, timeout time.Duration, problems io.Writer) (map[int]*ProcessSample, error) {
	// The harness's admin connection is always on the CLIENT LIST, so an
	// empty list means "not read yet", never "no clients".
	if err := srv.Admin().Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("memtable: redis-server on port %d: %w", srv.Port, err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()

	a, err := agent.Start(ctx,
		agent.WithMeterProvider(mp),
		agent.WithLogger(slog.New(slog.NewTextHandler(problems, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		agent.WithPIDs(pids...),
		agent.WithPSS(),
		agent.WithRedis(srv.URL()),
		agent.WithTLSConfig(srv.ClientTLSConfig()),
		// The interval also sets the agent's timeout for one pass (up to
		// 5 s): CLIENT LIST of 16000 TLS clients on a loaded machine
		// takes more than a second.
		agent.WithInterval(5*time.Second),
		agent.WithTopNames(math.MaxInt32),
		agent.WithClientListMaxClients(math.MaxInt32),
		agent.WithClientListEvery(1),
	)
	if err != nil {
		return nil, fmt.Errorf("memtable: start the agent: %w", err)
	}
	defer a.Close()

	deadline := time.Now().Add(timeout)
	var missing string
	for {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			return nil, fmt.Errorf("memtable: collect the agent's metrics: %w", err)
		}
		samples, why := readSamples(&rm, pids, minConns)
		if why == "" {
			return samples, nil
		}
		missing = why
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("memtable: the agent's metrics are incomplete after %s: %s", timeout, missing)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readSamples builds the per-process samples from one collection; why says
// what is still missing ("" when complete).
func readSamples(rm *metricdata.ResourceMetrics, pids []int, minConns int64) (map[int]*ProcessSample, string) {
	out := make(map[int]*ProcessSample, len(pids))
	for _, pid := range pids {
		out[pid] = &ProcessSample{Pid: pid, RSS: -1, VMS: -1, PSS: -1, SocketConns: -1}
	}
	serverRead, listRead := false, false
	byProcess := func(dps []metricdata.DataPoint[int64], set func(*ProcessSample, int64)) {
		for _, dp := range dps {
			v, ok := dp.Attributes.Value(aPID)
			if !ok {
				continue
			}
			if s := out[int(v.AsInt64())]; s != nil {
				set(s, dp.Value)
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var dps []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				dps = d.DataPoints
			case metricdata.Gauge[int64]:
				dps = d.DataPoints
			default:
				continue
			}
			switch m.Name {
			case mRSS:
				byProcess(dps, func(s *ProcessSample, v int64) { s.RSS = v })
			case mVMS:
				byProcess(dps, func(s *ProcessSample, v int64) { s.VMS = v })
			case mPSS:
				byProcess(dps, func(s *ProcessSample, v int64) { s.PSS = v })
			case mProcConns:
				byProcess(dps, func(s *ProcessSample, v int64) { s.SocketConns = max(s.SocketConns, 0) + v })
			case mConnected:
				serverRead = len(dps) > 0
			case mServerConns:
				listRead = len(dps) > 0
				for _, dp := range dps {
					v, ok := dp.Attributes.Value(aClientPID)
					if !ok {
						continue
					}
					pid, err := strconv.Atoi(v.AsString())
					if err != nil {
						continue
					}
					if s := out[pid]; s != nil {
						s.ServerConns += dp.Value
					}
				}
			}
		}
	}
	if !serverRead || !listRead {
		return nil, "the server's INFO or CLIENT LIST has not been read yet"
	}
	for _, pid := range pids {
		s := out[pid]
		switch {
		case s.RSS < 0 || s.VMS < 0:
			return nil, "no RSS/VMS for pid " + strconv.Itoa(pid)
		case s.PSS < 0:
			return nil, "no PSS for pid " + strconv.Itoa(pid)
		case s.SocketConns < 0:
			return nil, "no socket count for pid " + strconv.Itoa(pid)
		case s.ServerConns < minConns:
			return nil, "the server lists " + strconv.FormatInt(s.ServerConns, 10) + " connections of pid " + strconv.Itoa(pid) + ", want at least " + strconv.FormatInt(minConns, 10)
		}
	}
	return out, ""
}
