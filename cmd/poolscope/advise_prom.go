package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poolscope/poolscope/advise"
)

// memoryPerConnection is the resident memory a plain connection costs a Go
// process, measured by `make memtable` (BENCHMARKS.md: 15 to 17 KiB, rounded
// up; a TLS connection costs 19 to 22 KiB more, a busy one more again).
const memoryPerConnection = 20 << 10

// poolLabels group the client-side series into pools: the collector's
// job (service.name), the pool's name, and the server it points at.
const poolLabels = "job, db_client_connection_pool_name, server_address, server_port"

// promSource reads the observations from Prometheus's HTTP API.
type promSource struct {
	f   adviseFlags
	api *promClient
	end time.Time
}

func newPromSource(f adviseFlags) *promSource {
	return &promSource{f: f, api: newPromClient(f.prometheus, f.user), end: time.Now()}
}

func (s *promSource) close() { s.api.close() }

// selector is the series selector every client-side query uses.
func (s *promSource) selector(extra ...string) string {
	m := extra
	if s.f.service != "" {
		m = append([]string{"job=" + strconv.Quote(s.f.service)}, m...)
	}
	return "{" + strings.Join(m, ", ") + "}"
}

func (s *promSource) instant(ctx context.Context, what, q string) ([]promSeries, error) {
	ctx, cancel := context.WithTimeout(ctx, s.f.timeout)
	defer cancel()
	v, err := s.api.query(ctx, q, s.end)
	if err != nil {
		return nil, s.queryError(what, err)
	}
	return v, nil
}

func (s *promSource) series(ctx context.Context, what, q string) ([]promSeries, error) {
	ctx, cancel := context.WithTimeout(ctx, s.f.timeout)
	defer cancel()
	m, err := s.api.queryRange(ctx, q, s.end.Add(-s.f.window+s.f.step), s.end, s.f.step)
	if err != nil {
		return nil, s.queryError(what, err)
	}
	return m, nil
}

func (s *promSource) queryError(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("Prometheus at %s did not answer the %s query within --timeout=%s", s.f.prometheus, what, s.f.timeout)
	}
	return fmt.Errorf("cannot query Prometheus at %s (the %s query): %v", s.f.prometheus, what, err)
}

// adviseKey names one pool of one service on one server.
type adviseKey struct{ job, pool, address, port string }

func keyOf(m map[string]string) adviseKey {
	return adviseKey{m["job"], m["db_client_connection_pool_name"], m["server_address"], m["server_port"]}
}

func (k adviseKey) server() string {
	if k.port == "" {
		return k.address
	}
	return k.address + ":" + k.port
}

// byPool indexes a vector by pool.
func byPool(v []promSeries) map[adviseKey]float64 {
	out := make(map[adviseKey]float64, len(v))
	for _, s := range v {
		if len(s.points) > 0 {
			out[keyOf(s.metric)] = s.points[len(s.points)-1].v
		}
	}
	return out
}

// valueOr returns the pool's value, or def when the query had none.
func valueOr(m map[adviseKey]float64, k adviseKey, def float64) float64 {
	if v, ok := m[k]; ok {
		return v
	}
	return def
}

// toInt converts a sample to a count; -1 (which the advice reports as not
// a size) when it is not a whole number in range.
func toInt(v float64) int {
	if math.IsNaN(v) || v < math.MinInt32 || v > math.MaxInt32 || v != math.Trunc(v) {
		return -1
	}
	return int(v)
}

// observe runs every query and builds the observations.
func (s *promSource) observe(ctx context.Context) ([]advise.Pool, []advise.Server, error) {
	w, st := promDuration(s.f.window), promDuration(s.f.step)
	maxes, err := s.instant(ctx, "configured max",
		fmt.Sprintf("max by (%s) (last_over_time(db_client_connection_max%s[%s]))", poolLabels, s.selector(), w))
	if err != nil {
		return nil, nil, err
	}
	if len(maxes) == 0 {
		return nil, nil, s.emptyError()
	}
	inst, err := s.instants(ctx, w, st)
	if err != nil {
		return nil, nil, err
	}
	rng, err := s.ranges(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	var pools []advise.Pool
	for k, v := range byPool(maxes) {
		pools = append(pools, s.pool(k, v, inst, rng))
	}
	return pools, inst.servers, nil
}

func (s *promSource) emptyError() error {
	scope := ""
	if s.f.service != "" {
		scope = fmt.Sprintf(" for --service=%q", s.f.service)
	}
	return fmt.Errorf("Prometheus at %s has no poolscope pool metrics (db_client_connection_max)%s in the last %s: "+
		"is the collector's Prometheus endpoint scraped with honor_labels (collector-config/prometheus/prometheus.yml)?",
		s.f.prometheus, scope, s.f.window)
}

// instantFigures are the per-pool figures over the whole window.
type instantFigures struct {
	processes, min, peak, open, waitP99, timeouts, health map[adviseKey]float64
	// peakMark is the peak from redis.client.connection.demand.max, the
	// high-water mark poolscope records between collections; peak, sampled
	// at each scrape, is the fall-back for processes that do not record it.
	peakMark map[adviseKey]float64
	// demand is redis.client.connection.demand over the window: the
	// demand each caller found as it asked, summed over the processes.
	demand map[adviseKey]advise.Histogram
	// holds is db.client.connection.use_time's buckets over the window:
	// how long callers held a connection, summed over the processes.
	holds   map[adviseKey]advise.Histogram
	servers []advise.Server
}

func (s *promSource) instants(ctx context.Context, w, st string) (instantFigures, error) {
	var f instantFigures
	regular := s.selector(`redis_client_connection_kind!="pubsub"`)
	queries := []struct {
		what, q string
		into    *map[adviseKey]float64
	}{
		{"process count", fmt.Sprintf("max_over_time(count by (%s) (db_client_connection_max%s)[%s:%s])", poolLabels, s.selector(), w, st), &f.processes},
		{"configured min", fmt.Sprintf("max by (%s) (last_over_time(db_client_connection_idle_min%s[%s]))", poolLabels, s.selector(), w), &f.min},
		// Sampled only for processes that do not record the high-water
		// mark: between a caller's "used" +1 and its pending -1, used +
		// pending counts it twice (instrument's demand.go), which the mark
		// does not.
		{"peak demand", fmt.Sprintf(`max by (%[1]s) (max_over_time((
			sum by (%[1]s, instance) (db_client_connection_count%[2]s)
			+ on (%[1]s, instance) sum by (%[1]s, instance) (db_client_connection_pending_requests%[3]s)
			unless on (%[1]s, instance) redis_client_connection_demand_max%[3]s
		)[%[4]s:]))`, poolLabels, s.selector(`db_client_connection_state="used"`, `redis_client_connection_kind!="pubsub"`), s.selector(), w), &f.peak},
		{"peak demand (high-water mark)", fmt.Sprintf("max by (%s) (max_over_time(redis_client_connection_demand_max%s[%s]))", poolLabels, s.selector(), w), &f.peakMark},
		{"open connections", fmt.Sprintf("avg by (%[1]s) (sum by (%[1]s, instance) (avg_over_time(db_client_connection_count%[2]s[%[3]s])))", poolLabels, regular, w), &f.open},
		{"wait p99", fmt.Sprintf("histogram_quantile(0.99, sum by (%s, le) (rate(db_client_connection_wait_time_seconds_bucket%s[%s])))", poolLabels, s.selector(), w), &f.waitP99},
		{"timeouts", fmt.Sprintf("sum by (%s) (increase(db_client_connection_timeouts_total%s[%s]))", poolLabels, s.selector(), w), &f.timeouts},
		{"health checks", fmt.Sprintf("count by (%s) (last_over_time(redis_client_health_up%s[%s]))", poolLabels, s.selector(), w), &f.health},
	}
	for _, q := range queries {
		v, err := s.instant(ctx, q.what, q.q)
		if err != nil {
			return f, err
		}
		*q.into = byPool(v)
	}
	v, err := s.instant(ctx, "demand seen by callers", fmt.Sprintf(
		"sum by (%s, le) (increase(redis_client_connection_demand_bucket%s[%s]))", poolLabels, s.selector(), w))
	if err != nil {
		return f, err
	}
	f.demand = histograms(v)
	v, err = s.instant(ctx, "hold times", fmt.Sprintf(
		"sum by (%s, le) (increase(db_client_connection_use_time_seconds_bucket%s[%s]))", poolLabels, s.selector(), w))
	if err != nil {
		return f, err
	}
	f.holds = histograms(v)
	v, err = s.instant(ctx, "maxclients", fmt.Sprintf("max by (server_address, server_port) (last_over_time(redis_clients_max[%s]))", w))
	if err != nil {
		return f, err
	}
	for k, v := range byPool(v) {
		f.servers = append(f.servers, advise.Server{Address: k.server(), MaxClients: max(toInt(v), 0)})
	}
	return f, nil
}

// peakDemand is the pool's peak demand over the window: the high-water
// mark where recorded, the sampled peak of the processes that do not
// record it (which misses what happens between two scrapes), the larger
// of the two for a fleet that mixes them; NaN when neither is known.
func (f instantFigures) peakDemand(k adviseKey) float64 {
	sampled := valueOr(f.peak, k, math.NaN())
	mark, ok := f.peakMark[k]
	switch {
	case !ok:
		return sampled
	case math.IsNaN(sampled):
		return mark
	}
	return math.Max(mark, sampled)
}

// peakRecorded: every process of the pool records the high-water mark
// (the sampled query answers only for processes that do not).
func (f instantFigures) peakRecorded(k adviseKey) bool {
	_, marked := f.peakMark[k]
	_, sampled := f.peak[k]
	return marked && !sampled
}

// histograms gathers an instant vector of buckets (by pool and le) into
// one histogram per pool; buckets with a bad le are left out.
func histograms(v []promSeries) map[adviseKey]advise.Histogram {
	type bucket struct{ le, n float64 }
	byKey := map[adviseKey][]bucket{}
	for _, ss := range v {
		le, err := strconv.ParseFloat(ss.metric["le"], 64)
		if err != nil || math.IsNaN(le) || len(ss.points) == 0 {
			continue
		}
		k := keyOf(ss.metric)
		byKey[k] = append(byKey[k], bucket{le, ss.points[len(ss.points)-1].v})
	}
	out := make(map[adviseKey]advise.Histogram, len(byKey))
	for k, bs := range byKey {
		slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
		var h advise.Histogram
		for _, b := range bs {
			// increase() extrapolates each bucket on its own: keep the
			// counts cumulative, as histogram_quantile does.
			n := b.n
			if len(h.Counts) > 0 {
				n = math.Max(n, h.Counts[len(h.Counts)-1])
			}
			h.Bounds, h.Counts = append(h.Bounds, b.le), append(h.Counts, n)
		}
		out[k] = h
	}
	return out
}

// rangeFigures are the per-interval series, by pool.
type rangeFigures struct {
	inUse, waiting, hold map[adviseKey][]promSeries
	commands             map[adviseKey][]promSeries // by job and server only
	serverBusy           map[adviseKey][]promSeries // by server only
}

func (s *promSource) ranges(ctx context.Context, st string) (rangeFigures, error) {
	r := rangeFigures{}
	sel := s.selector()
	queries := []struct {
		what, q string
		into    *map[adviseKey][]promSeries
	}{
		// Busiest process's connections in use and callers waiting; the fleet's mean hold time.
		{"connections in use", fmt.Sprintf("max by (%s) (rate(db_client_connection_use_time_seconds_sum%s[%s]))", poolLabels, sel, st), &r.inUse},
		{"callers waiting", fmt.Sprintf("max by (%s) (rate(db_client_connection_wait_time_seconds_sum%s[%s]))", poolLabels, sel, st), &r.waiting},
		{"hold time", fmt.Sprintf("sum by (%[1]s) (rate(db_client_connection_use_time_seconds_sum%[2]s[%[3]s])) / sum by (%[1]s) (rate(db_client_connection_use_time_seconds_count%[2]s[%[3]s]))", poolLabels, sel, st), &r.hold},
	}
	for _, q := range queries {
		m, err := s.series(ctx, q.what, q.q)
		if err != nil {
			return r, err
		}
		*q.into = groupSeries(m)
	}
	// Command latency (db.client.operation.duration), when recorded: per
	// service and server, since commands carry no pool name.
	m, err := s.series(ctx, "command latency", fmt.Sprintf(
		"sum by (job, server_address, server_port) (rate(db_client_operation_duration_seconds_sum%[1]s[%[2]s])) / sum by (job, server_address, server_port) (rate(db_client_operation_duration_seconds_count%[1]s[%[2]s]))", sel, st))
	if err != nil {
		return r, err
	}
	r.commands = groupSeries(m)
	// The server's main-thread CPU per second (INFO cpu, as the
	// Collector's redis receiver exports it: redis.cpu.time), per server.
	m, err = s.series(ctx, "server busy", fmt.Sprintf(
		`max by (server_address, server_port) (sum by (server_address, server_port, job, instance) (rate(redis_cpu_time_seconds_total{state=~"sys_main_thread|user_main_thread"}[%s])))`, st))
	if err != nil {
		return r, err
	}
	r.serverBusy = groupSeries(m)
	return r, nil
}

// pool assembles one pool's observation.
func (s *promSource) pool(k adviseKey, maxConns float64, inst instantFigures, rng rangeFigures) advise.Pool {
	p := advise.Pool{
		Service: k.job, Name: k.pool, Server: k.server(),
		Processes:  toInt(valueOr(inst.processes, k, 0)),
		Max:        toInt(maxConns),
		Min:        toInt(valueOr(inst.min, k, 0)),
		Step:       s.f.step,
		PeakDemand: inst.peakDemand(k), PeakRecorded: inst.peakRecorded(k), OpenMean: valueOr(inst.open, k, math.NaN()),
		WaitP99: valueOr(inst.waitP99, k, math.NaN()), Timeouts: valueOr(inst.timeouts, k, math.NaN()),
		MemoryPerConnection: memoryPerConnection, Demand: inst.demand[k], Holds: inst.holds[k],
	}
	if valueOr(inst.health, k, 0) > 0 {
		p.Extra = 1 // the pool's health-check connection
	}
	n := int(s.f.window / s.f.step)
	start := s.end.Add(-s.f.window + s.f.step)
	inUse, waiting, hold := s.align(rng.inUse[k], start, n), s.align(rng.waiting[k], start, n), s.align(rng.hold[k], start, n)
	cmds := s.align(rng.commands[adviseKey{job: k.job, address: k.address, port: k.port}], start, n)
	busy := s.align(rng.serverBusy[adviseKey{address: k.address, port: k.port}], start, n)
	p.Intervals = make([]advise.Interval, n)
	for i := range p.Intervals {
		p.Intervals[i] = advise.Interval{InUse: inUse[i], Waiting: waiting[i], Hold: hold[i], CommandLatency: cmds[i], ServerBusy: busy[i]}
	}
	return p
}

// align lays the samples of a series on the n steps from start; a step
// without a sample is NaN.
func (s *promSource) align(m []promSeries, start time.Time, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	for _, ss := range m {
		for _, p := range ss.points {
			i := int(math.Round(float64(p.t.Sub(start)) / float64(s.f.step)))
			if i >= 0 && i < n {
				out[i] = p.v
			}
		}
	}
	return out
}

func groupSeries(m []promSeries) map[adviseKey][]promSeries {
	out := map[adviseKey][]promSeries{}
	for _, ss := range m {
		k := keyOf(ss.metric)
		out[k] = append(out[k], ss)
	}
	return out
}

// promDuration writes a duration as PromQL reads it: whole seconds or
// milliseconds.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
