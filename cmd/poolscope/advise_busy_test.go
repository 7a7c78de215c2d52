package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// busyHistory is the recorded past of TestAdviseServerBusyDecides: the
// last half hour, a sample every 15 s, in phases of 4 minutes.
const (
	busyHistory  = 30 * time.Minute
	busySampleEv = 15 * time.Second
	busyPhase    = 16 // samples: 4 minutes
)

// busyService is one service of the backfilled history: a pool of 4 on
// its own server, whose main thread was busy the given share of the time.
type busyService struct {
	service, address string
	busy             float64
}

var busyFleet = []busyService{{"checkout", "10.0.0.5", 0.95}, {"reports", "10.0.0.6", 0.30}}

// writeBusyHistory writes both services' series, as poolscope's
// instrument and agent export them through the collector, ending at end.
// In both, 12 callers alternate between quiet phases (2 connections in
// use, a 2 ms hold, nobody waiting) and busy ones (4 in use, 8 waiting, a
// 6 ms hold): hold times that rise with concurrency, which without the
// server's CPU time would say server-bound for both.
func writeBusyHistory(path string, end time.Time) error {
	n := int(busyHistory / busySampleEv)
	at := func(i int) string { return fmt.Sprintf("%d", end.Add(-time.Duration(n-i)*busySampleEv).Unix()) }
	busyPhase := func(i int) bool { return i/busyPhase%2 == 1 }
	var b strings.Builder
	// Cumulative figures per sample: use seconds, acquisitions, wait seconds.
	type sums struct{ use, count, wait float64 }
	cum := make([]sums, n)
	var s sums
	for i := range n {
		cum[i] = s
		inUse, waiting, hold := 2.0, 0.0, 0.002
		if busyPhase(i) {
			inUse, waiting, hold = 4, 8, 0.006
		}
		dt := busySampleEv.Seconds()
		s = sums{s.use + inUse*dt, s.count + inUse*dt/hold, s.wait + waiting*dt}
	}
	family := func(name string, value func(svc busyService, i int) string) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		for _, svc := range busyFleet {
			labels := fmt.Sprintf(`job=%q,instance="i1",db_client_connection_pool_name="master",server_address=%q,server_port="6379"`, svc.service, svc.address)
			for i := range n {
				fmt.Fprintf(&b, "%s{%s} %s %s\n", name, labels, value(svc, i), at(i))
			}
		}
	}
	family("db_client_connection_max", func(busyService, int) string { return "4" })
	family("redis_client_connection_demand_max", func(busyService, int) string { return "12" })
	family("db_client_connection_use_time_seconds_sum", func(_ busyService, i int) string { return fmt.Sprint(cum[i].use) })
	family("db_client_connection_use_time_seconds_count", func(_ busyService, i int) string { return fmt.Sprint(cum[i].count) })
	family("db_client_connection_wait_time_seconds_sum", func(_ busyService, i int) string { return fmt.Sprint(cum[i].wait) })
	b.WriteString("# TYPE redis_cpu_time_seconds_total gauge\n")
	for _, svc := range busyFleet {
		for state, share := range map[string]float64{"sys_main_thread": 0.3, "user_main_thread": 0.7} {
			for i := range n {
				fmt.Fprintf(&b, "redis_cpu_time_seconds_total{job=\"poolscope-agent\",instance=\"agent\",server_address=%q,server_port=\"6379\",state=%q} %g %s\n",
					svc.address, state, svc.busy*share*busySampleEv.Seconds()*float64(i), at(i))
			}
		}
	}
	b.WriteString("# EOF\n")
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// TestAdviseServerBusyDecides: where the server's main-thread CPU time is
// recorded (the agent's redis_cpu_time_seconds_total, read through a real
// Prometheus), it alone says whether the server is the bottleneck, over
// hold times that rise with concurrency: checkout's server, busy 95% of
// the time, keeps its pool of 4 as server-bound (3 connections keep a
// saturated server busy, and 4 is within the keep margin); reports'
// server, busy 30%, is not the bottleneck, so its waiting callers get a
// bigger pool although their hold times rose. The busy shares are what the
// test wrote, not what a loaded machine gives a live server
// (TestAdviseServerBound runs the live pipeline).
func TestAdviseServerBusyDecides(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	prom := backfilledPrometheus(t, writeBusyHistory)
	code, stdout, stderr := runAdviseCLI(t, "advise", "--prometheus", prom, "--window", "29m", "--step", "1m", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var advice adviceJSON
	if err := json.Unmarshal([]byte(stdout), &advice); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range advice.Pools {
		got[p.Service] = fmt.Sprintf("%s %d -> %d (busy %v): %s", p.Verdict, p.Max, p.RecommendedMax, deref(p.ServerBusy), p.Reason)
		switch {
		case p.ServerBusy == nil:
			t.Errorf("%s: no server busy share read: %s", p.Service, got[p.Service])
		case p.Service == "checkout" && (p.Verdict != "server-bound" || p.RecommendedMax != 4 ||
			!strings.Contains(p.Reason, "the server's main thread was busy 95%") || strings.Contains(p.Reason, "rose from")):
			t.Errorf("checkout: %s; want server-bound at 4 from the server's CPU time", got[p.Service])
		case p.Service == "reports" && (p.Verdict != "grow" || strings.Contains(p.Reason, "rose from") || *p.ServerBusy > 0.35):
			t.Errorf("reports: %s; want grow: the server is busy 30%%, the hold times' rise is not the server's", got[p.Service])
		}
	}
	if len(got) != 2 {
		t.Errorf("advice for %d services, want 2: %s", len(got), stdout)
	}
	for svc, line := range got {
		t.Logf("%s: %s", svc, line)
	}
}

func deref(x *float64) any {
	if x == nil {
		return nil
	}
	return *x
}
