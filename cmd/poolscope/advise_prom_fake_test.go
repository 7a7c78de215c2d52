package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakePromSeries is what the fake API answers for queries containing a
// marker, the first marker that matches winning: an instant value, or a
// value at every step of a range query. No marker: an empty result.
type fakePromSeries []struct{ marker, value string }

// fakePrometheus answers /api/v1/query and /api/v1/query_range like
// Prometheus would for one pool (checkout/master on 10.0.0.5:6379), from
// the figures given: it checks how the CLI assembles what Prometheus
// returns, independently of a real Prometheus's timing.
func fakePrometheus(t *testing.T, instant, ranged fakePromSeries) string {
	t.Helper()
	labels := `{"job":"checkout","db_client_connection_pool_name":"master","server_address":"10.0.0.5","server_port":"6379"}`
	find := func(m fakePromSeries, q string) (string, bool) {
		for _, mv := range m {
			if strings.Contains(q, mv.marker) {
				return mv.value, true
			}
		}
		return "", false
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		var result []string
		switch r.URL.Path {
		case "/api/v1/query":
			if v, ok := find(instant, q); ok {
				series := labels
				if strings.Contains(q, "redis_clients_max") {
					series = `{"server_address":"10.0.0.5","server_port":"6379"}`
				}
				result = append(result, fmt.Sprintf(`{"metric":%s,"value":[%s,%q]}`, series, r.FormValue("time"), v))
			}
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(result, ","))
		case "/api/v1/query_range":
			if v, ok := find(ranged, q); ok {
				start, _ := strconv.ParseFloat(r.FormValue("start"), 64)
				end, _ := strconv.ParseFloat(r.FormValue("end"), 64)
				step, _ := strconv.ParseFloat(r.FormValue("step"), 64)
				var points []string
				for ts := start; ts <= end+1e-6; ts += step {
					points = append(points, fmt.Sprintf(`[%.3f,%q]`, ts, v))
				}
				series := labels
				if strings.Contains(q, "redis_cpu_time") { // per server
					series = `{"server_address":"10.0.0.5","server_port":"6379"}`
				}
				result = append(result, fmt.Sprintf(`{"metric":%s,"values":[%s]}`, series, strings.Join(points, ",")))
			}
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, strings.Join(result, ","))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The queries' answers become the right observation: 3 processes of a
// pool of 10 with 10 in use and 30 waiting per process grow to 44, the
// fleet budget multiplies by the process count and adds the health checks;
// a Prometheus with the pool's configuration but no histograms says which
// metric is missing.
func TestAdviseAssemblesPrometheusAnswers(t *testing.T) {
	config := fakePromSeries{
		{"last_over_time(db_client_connection_max", "10"},
		{"count by (job, db_client_connection_pool_name, server_address, server_port) (db_client_connection_max", "3"},
		{"db_client_connection_idle_min", "0"},
		{"db_client_connection_pending_requests", "40"},
		{"avg_over_time(db_client_connection_count", "10"},
		{"histogram_quantile", "0.05"},
		{"db_client_connection_timeouts_total", "7"},
		{"redis_client_health_up", "3"},
		{"redis_clients_max", "100"},
	}
	histograms := fakePromSeries{
		{"use_time_seconds_count", "0.0002"}, // the hold time query, which also holds use_time_seconds_sum: first
		{"rate(db_client_connection_use_time_seconds_sum", "10"},
		{"rate(db_client_connection_wait_time_seconds_sum", "30"},
	}
	for name, tc := range map[string]struct {
		ranged fakePromSeries
		check  func(t *testing.T, a adviceJSON)
	}{
		"full": {histograms, func(t *testing.T, a adviceJSON) {
			p := a.Pools[0]
			if p.Verdict != "grow" || p.Processes != 3 || p.Max != 10 {
				t.Errorf("pool %+v, want grow, 3 processes, max 10", p)
			}
			// 100 maxclients, limit 90: 3 x (10 + 1) = 33 now; growth to
			// 44 would be 135, so it is capped at 3 x (x + 1) <= 90: 29.
			if p.RecommendedMax != 29 || !strings.Contains(p.Reason, "capped at 29") {
				t.Errorf("advised %d (%s), want 29, capped", p.RecommendedMax, p.Reason)
			}
			if s := a.Servers[0]; s.Before != 33 || s.After != 90 || !s.Fits || s.MaxClients != 100 {
				t.Errorf("budget %+v, want 33 -> 90 of maxclients 100", s)
			}
		}},
		// The server's main thread busy 95% of every step: 3 connections,
		// whatever the callers ask.
		"server busy": {append(slices.Clone(histograms), fakePromSeries{{"redis_cpu_time_seconds_total", "0.95"}}...), func(t *testing.T, a adviceJSON) {
			if p := a.Pools[0]; p.Verdict != "shrink" || p.RecommendedMax != 3 || !strings.Contains(p.Reason, "main thread was busy 95%") {
				t.Errorf("pool %+v, want shrink to 3: the server is busy", p)
			}
		}},
		"no histograms": {nil, func(t *testing.T, a adviceJSON) {
			if p := a.Pools[0]; p.Verdict != "not-enough-data" || !strings.Contains(p.Reason, "no use times") {
				t.Errorf("pool %+v, want not-enough-data: no use times", p)
			}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			url := fakePrometheus(t, config, tc.ranged)
			code, stdout, stderr := runAdviseCLI(t, "advise", "--prometheus", url, "--window", "1h", "--json")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var a adviceJSON
			if err := json.Unmarshal([]byte(stdout), &a); err != nil || len(a.Pools) != 1 || len(a.Servers) != 1 {
				t.Fatalf("%v: %s", err, stdout)
			}
			tc.check(t, a)
		})
	}
}

// The peak demand comes from the recorded high-water mark
// (redis.client.connection.demand.max) when Prometheus has it, and from
// the sampled gauges (used + pending_requests) otherwise.
func TestAdvisePeakFromHighWaterMark(t *testing.T) {
	config := fakePromSeries{
		{"last_over_time(db_client_connection_max", "10"},
		{"count by (job, db_client_connection_pool_name, server_address, server_port) (db_client_connection_max", "1"},
		{"db_client_connection_idle_min", "0"},
		{"db_client_connection_pending_requests", "12"}, // the sampled peak
		{"avg_over_time(db_client_connection_count", "10"},
		{"histogram_quantile", "0.05"},
		{"db_client_connection_timeouts_total", "0"},
	}
	histograms := fakePromSeries{
		{"use_time_seconds_count", "0.0002"},
		{"rate(db_client_connection_use_time_seconds_sum", "8"},
		{"rate(db_client_connection_wait_time_seconds_sum", "1"},
	}
	for name, tc := range map[string]struct {
		instant fakePromSeries
		want    float64
	}{
		"sampled only": {config, 12},
		// (The sampled query names the mark too, to leave out the processes
		// that record it: the fake answers it by its first marker.)
		"high-water mark":    {append(slices.Clone(config), fakePromSeries{{"redis_client_connection_demand_max", "31"}}...), 31},
		"mark below sampled": {append(slices.Clone(config), fakePromSeries{{"redis_client_connection_demand_max", "9"}}...), 12},
	} {
		t.Run(name, func(t *testing.T) {
			url := fakePrometheus(t, tc.instant, histograms)
			code, stdout, stderr := runAdviseCLI(t, "advise", "--prometheus", url, "--window", "1h", "--json")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var a adviceJSON
			if err := json.Unmarshal([]byte(stdout), &a); err != nil || len(a.Pools) != 1 {
				t.Fatalf("%v: %s", err, stdout)
			}
			if p := a.Pools[0]; p.DemandPeak == nil || *p.DemandPeak != tc.want {
				t.Errorf("demand_peak = %v, want %v (%s)", p.DemandPeak, tc.want, stdout)
			}
		})
	}
}

// histograms turns the demand query's buckets (one series per pool and
// le, in any order) into one cumulative histogram per pool; a bad le is
// left out, and increase()'s per-bucket extrapolation never makes the
// counts go down.
func TestHistogramsFromBuckets(t *testing.T) {
	bucket := func(job, le string, v float64) promSeries {
		return promSeries{metric: map[string]string{"job": job, "db_client_connection_pool_name": "master",
			"server_address": "10.0.0.5", "server_port": "6379", "le": le}, points: []promPoint{{v: v}}}
	}
	got := histograms([]promSeries{
		bucket("checkout", "+Inf", 100), bucket("checkout", "16", 99.5), bucket("checkout", "1", 10),
		bucket("checkout", "8", 9.9), bucket("checkout", "abc", 5), bucket("reports", "1", 3),
	})
	h := got[adviseKey{"checkout", "master", "10.0.0.5", "6379"}]
	if fmt.Sprint(h.Bounds) != "[1 8 16 +Inf]" || fmt.Sprint(h.Counts) != "[10 10 99.5 100]" {
		t.Errorf("checkout: bounds %v counts %v, want [1 8 16 +Inf] and [10 10 99.5 100]", h.Bounds, h.Counts)
	}
	if r := got[adviseKey{"reports", "master", "10.0.0.5", "6379"}]; r.Total() != 3 {
		t.Errorf("reports: %+v, want one bucket of 3", r)
	}
}
