package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/poolscope/poolscope/advise"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/pools"
)

// demoTable draws the demo's live table from merged scrapes. It keeps the
// previous snapshot's wait-time histograms so that "wait p99" is over the
// last second, not since start: computed as the advice line computes its
// own over its longer window (advise.Histogram.Quantile, Prometheus's
// histogram_quantile), and printed as the advice prints it.
type demoTable struct {
	server  *redisserver.Server
	workers []*demoWorker
	prev    map[poolKey]advise.Histogram
}

func newDemoTable(server *redisserver.Server, workers []*demoWorker) *demoTable {
	return &demoTable{server: server, workers: workers, prev: map[poolKey]advise.Histogram{}}
}

// poolKey names one pool of one process.
type poolKey struct{ job, instance, pool string }

type poolRow struct {
	used, idle, max               float64
	waits, timeouts, hits, misses float64
	waitP99                       float64 // seconds, interpolated in its bucket; NaN when no wait in the window
}

// render draws one second's table: the pools of each worker, the workers'
// memory and connections, and the server's clients by name.
func (t *demoTable) render(snap *snapshot, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n── %s ─────────────────────────────────────────────────────────────\n", elapsed.Round(time.Second))
	writePools(&b, t.poolRows(snap))
	fmt.Fprintln(&b)
	t.writeProcesses(&b, snap)
	fmt.Fprintln(&b)
	t.writeServer(&b, snap)
	for _, e := range snap.errors {
		fmt.Fprintf(&b, "scrape failed: %s\n", e)
	}
	return b.String()
}

// each calls f for every series of the metric family name.
func (snap *snapshot) each(name string, f func(m *dto.Metric, v float64)) {
	if fam := snap.families[name]; fam != nil {
		for _, m := range fam.Metric {
			f(m, value(m))
		}
	}
}

func poolKeyOf(m *dto.Metric) poolKey {
	return poolKey{labelValue(m, "job"), labelValue(m, "instance"), labelValue(m, "db_client_connection_pool_name")}
}

// poolRows sums each pool's series, from instrument's metrics, and the wait
// p99 over the last second.
func (t *demoTable) poolRows(snap *snapshot) map[poolKey]*poolRow {
	rows := map[poolKey]*poolRow{}
	row := func(m *dto.Metric) *poolRow {
		k := poolKeyOf(m)
		r := rows[k]
		if r == nil {
			r = &poolRow{waitP99: math.NaN()}
			rows[k] = r
		}
		return r
	}
	snap.each("db_client_connection_count", func(m *dto.Metric, v float64) {
		if labelValue(m, "db_client_connection_state") == "idle" {
			row(m).idle += v
		} else {
			row(m).used += v
		}
	})
	snap.each("db_client_connection_max", func(m *dto.Metric, v float64) { row(m).max += v })
	snap.each("redis_client_connection_waits_total", func(m *dto.Metric, v float64) { row(m).waits += v })
	snap.each("db_client_connection_timeouts_total", func(m *dto.Metric, v float64) { row(m).timeouts += v })
	snap.each("redis_client_connection_hits_total", func(m *dto.Metric, v float64) { row(m).hits += v })
	snap.each("redis_client_connection_misses_total", func(m *dto.Metric, v float64) { row(m).misses += v })
	next := map[poolKey]advise.Histogram{}
	if fam := snap.families["db_client_connection_wait_time_seconds"]; fam != nil {
		for _, m := range fam.Metric {
			k := poolKeyOf(m)
			h := toHistogram(m.GetHistogram())
			next[k] = h
			row(m).waitP99 = h.Since(t.prev[k]).Quantile(0.99)
		}
	}
	t.prev = next
	return rows
}

// writePools prints one line per pool, by process then role.
func writePools(b *strings.Builder, rows map[poolKey]*poolRow) {
	keys := make([]poolKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].job != keys[j].job {
			return keys[i].job < keys[j].job
		}
		return roleOrder(keys[i].pool) < roleOrder(keys[j].pool)
	})
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tpool\tused\tidle\tmax\twaits\ttimeouts\thits\tmisses\twait p99 (1s)\t")
	for _, k := range keys {
		r := rows[k]
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t\n", k.job, k.pool, r.used, r.idle,
			r.max, r.waits, r.timeouts, r.hits, r.misses, waitP99Text(r.waitP99))
	}
	_ = tw.Flush()
}

// writeProcesses prints the workers' memory and connections, from the agent.
func (t *demoTable) writeProcesses(b *strings.Builder, snap *snapshot) {
	type proc struct{ rss, vms, conns float64 }
	procs := map[string]*proc{}
	prow := func(m *dto.Metric) *proc {
		pid := labelValue(m, "process_pid")
		if procs[pid] == nil {
			procs[pid] = &proc{}
		}
		return procs[pid]
	}
	snap.each("process_memory_usage_bytes", func(m *dto.Metric, v float64) { prow(m).rss = v })
	snap.each("process_memory_virtual_bytes", func(m *dto.Metric, v float64) { prow(m).vms = v })
	snap.each("poolscope_process_redis_connections", func(m *dto.Metric, v float64) { prow(m).conns += v })
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tpid\tRSS\tVMS\tredis conns\t")
	for _, w := range t.workers {
		pid := strconv.Itoa(w.cmd.Process.Pid)
		if p := procs[pid]; p != nil {
			fmt.Fprintf(tw, "demo-%s\t%s\t%s\t%s\t%.0f\t\n", w.label, pid, mib(p.rss), mib(p.vms), p.conns)
		} else {
			fmt.Fprintf(tw, "demo-%s\t%s\t(not found yet)\t\t\t\n", w.label, pid)
		}
	}
	_ = tw.Flush()
}

// writeServer prints the server's clients, from the agent: INFO clients
// and CLIENT LIST by name.
func (t *demoTable) writeServer(b *strings.Builder, snap *snapshot) {
	snap.each("redis_clients_connected", func(m *dto.Metric, v float64) {
		fmt.Fprintf(b, "server %s: %.0f clients (INFO clients; the agent's own connection included)\n", t.server.Addr(), v)
	})
	var names []string
	byName := map[string]float64{}
	snap.each("poolscope_server_connections", func(m *dto.Metric, v float64) {
		n := labelValue(m, "redis_client_name")
		if _, ok := byName[n]; !ok {
			names = append(names, n)
		}
		byName[n] += v
	})
	sort.Strings(names)
	for _, n := range names {
		shown := n
		if shown == "" {
			shown = "(no name)"
		}
		fmt.Fprintf(b, "  %-32s %5.0f\n", shown, byName[n])
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// toHistogram is a Prometheus histogram's buckets as advise reads them
// (the exposition's last bucket, +Inf, is implicit: the sample count).
func toHistogram(h *dto.Histogram) advise.Histogram {
	var out advise.Histogram
	for _, b := range h.GetBucket() {
		out.Bounds = append(out.Bounds, b.GetUpperBound())
		out.Counts = append(out.Counts, float64(b.GetCumulativeCount()))
	}
	if n := len(out.Bounds); n == 0 || !math.IsInf(out.Bounds[n-1], 1) {
		out.Bounds = append(out.Bounds, math.Inf(1))
		out.Counts = append(out.Counts, float64(h.GetSampleCount()))
	}
	return out
}

// waitP99Text is a pool's wait p99 as the advice line prints one; "-"
// when nobody waited in the second.
func waitP99Text(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return fmtLatency(s)
}

func mib(bytes float64) string { return fmt.Sprintf("%.1f MiB", bytes/(1<<20)) }

func roleOrder(pool string) int {
	for i, r := range pools.Roles {
		if string(r) == pool {
			return i
		}
	}
	return len(pools.Roles)
}
