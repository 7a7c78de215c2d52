package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// demoSnapshot builds one scrape of a worker's pool: cumulative use and
// wait histogram sums after `at` seconds of `inUse` connections in use and
// `waiting` callers waiting, and the gauges.
func demoSnapshot(start time.Time, at int, job, pool string, inUse, waiting, hold, max float64) *snapshot {
	labels := func(extra ...string) []*dto.LabelPair {
		kv := append([]string{"job", job, "instance", job + "-1", "db_client_connection_pool_name", pool,
			"server_address", "127.0.0.1", "server_port", "6379"}, extra...)
		var out []*dto.LabelPair
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, &dto.LabelPair{Name: proto.String(kv[i]), Value: proto.String(kv[i+1])})
		}
		return out
	}
	t := float64(at)
	// Waits within 1 ms when nobody waits on average, up to 50 ms otherwise.
	fast := 0.0
	if waiting == 0 {
		fast = 1
	}
	hist := func(sum, count float64) *dto.Metric {
		return &dto.Metric{Label: labels(), Histogram: &dto.Histogram{SampleSum: proto.Float64(sum), SampleCount: proto.Uint64(uint64(count)),
			Bucket: []*dto.Bucket{{UpperBound: proto.Float64(0.001), CumulativeCount: proto.Uint64(uint64(fast * count))},
				{UpperBound: proto.Float64(0.05), CumulativeCount: proto.Uint64(uint64(count))}}}}
	}
	gauge := func(v float64, extra ...string) *dto.Metric {
		return &dto.Metric{Label: labels(extra...), Gauge: &dto.Gauge{Value: proto.Float64(v)}}
	}
	fam := func(ms ...*dto.Metric) *dto.MetricFamily { return &dto.MetricFamily{Metric: ms} }
	acquisitions := t * inUse / hold
	return &snapshot{at: start.Add(time.Duration(at) * time.Second), families: map[string]*dto.MetricFamily{
		"db_client_connection_use_time_seconds":  fam(hist(t*inUse, acquisitions)),
		"db_client_connection_wait_time_seconds": fam(hist(t*waiting, acquisitions)),
		"db_client_connection_count": fam(gauge(inUse, "db_client_connection_state", "used"),
			gauge(0, "db_client_connection_state", "idle")),
		"db_client_connection_pending_requests": fam(gauge(waiting)),
		"db_client_connection_max":              fam(gauge(max)),
		"redis_clients_max": {Metric: []*dto.Metric{{Label: []*dto.LabelPair{
			{Name: proto.String("server_address"), Value: proto.String("127.0.0.1")},
			{Name: proto.String("server_port"), Value: proto.String("6379")}}, Gauge: &dto.Gauge{Value: proto.Float64(10000)}}}},
	}}
}

// The pooled worker's master: 10 of 10 in use and 30 callers waiting, for
// 12 seconds: grow to the 40 callers plus 10%. Before 10 intervals, the
// advice says it is still collecting.
func TestDemoAdvice(t *testing.T) {
	d := newDemoAdvisor()
	start := time.Unix(1_700_000_000, 0)
	for at := 0; at <= 5; at++ {
		d.observe(demoSnapshot(start, at, "demo-pooled", "master", 10, 30, 0.0002, 10))
	}
	if out := d.render(); !strings.Contains(out, "demo-pooled master: not enough data yet: window too short: 5 interval(s)") {
		t.Errorf("after 5 s:\n%s", out)
	}
	for at := 6; at <= 12; at++ {
		d.observe(demoSnapshot(start, at, "demo-pooled", "master", 10, 30, 0.0002, 10))
	}
	out := d.render()
	for _, want := range []string{
		"advice (poolscope advise's model on the last 12s, wait p99 target 1ms):",
		// 49.51ms: the p99 interpolated inside the (1ms, 50ms] bucket, as Prometheus's histogram_quantile does.
		"demo-pooled master: grow 10 -> 40 (wait p99 49.51ms now, 0 then; +30 connections, +600 KiB): 40 callers (the peak) each asking 1.00",
		"server 127.0.0.1:6379: both workers may open 10 connections, 40 at the advised sizes (maxclients 10000)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("advice lacks %q:\n%s", want, out)
		}
	}
}

// The unpooled worker's role is told which pool to enable instead: 2 in
// use at most, and 2 busy callers never hold more than 2 connections.
func TestDemoAdviceUnpooled(t *testing.T) {
	d := newDemoAdvisor()
	start := time.Unix(1_700_000_000, 0)
	for at := 0; at <= 12; at++ {
		d.observe(demoSnapshot(start, at, "demo-unpooled", "replica", 2, 0, 0.001, 300))
	}
	if out := d.render(); !strings.Contains(out, "demo-unpooled replica: enable the pool at 2 instead of 300 default client connections") {
		t.Errorf("advice:\n%s", out)
	}
}

// The live table's wait p99 (over the last second) and the advice line's
// (over its window) are one computation printed one way: with the same
// waits every second, both say 49.51ms, interpolated inside the (1ms,
// 50ms] bucket; a second without waits shows "-".
func TestDemoTableWaitP99MatchesAdvice(t *testing.T) {
	table, d := newDemoTable(nil, nil), newDemoAdvisor()
	start := time.Unix(1_700_000_000, 0)
	var rows map[poolKey]*poolRow
	for at := 0; at <= 12; at++ {
		snap := demoSnapshot(start, at, "demo-pooled", "master", 10, 30, 0.0002, 10)
		d.observe(snap)
		rows = table.poolRows(snap)
	}
	var b strings.Builder
	writePools(&b, rows)
	if !regexp.MustCompile(`(?m)^\s*demo-pooled\s+master\s.*\s49\.51ms\s*$`).MatchString(b.String()) {
		t.Errorf("table's wait p99 is not 49.51ms:\n%s", b.String())
	}
	if out := d.render(); !strings.Contains(out, "(wait p99 49.51ms now,") {
		t.Errorf("advice's wait p99 is not 49.51ms:\n%s", out)
	}

	again := demoSnapshot(start, 12, "demo-pooled", "master", 10, 30, 0.0002, 10) // nothing new since
	again.at = start.Add(13 * time.Second)
	b.Reset()
	writePools(&b, table.poolRows(again))
	if !regexp.MustCompile(`(?m)^\s*demo-pooled\s+master\s.*\s-\s*$`).MatchString(b.String()) {
		t.Errorf("a second without waits:\n%s", b.String())
	}
}
