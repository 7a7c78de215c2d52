package grafana

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// contractMetrics are the series names poolscope's instrument and agent
// packages produce, as the gateway collector's prometheus exporter names them
// (see collector-config/README.md). A dashboard query that uses any other
// name shows nothing.
var contractMetrics = func() map[string]bool {
	names := []string{
		// Client side (instrument/).
		"db_client_connection_count",
		"db_client_connection_idle_max",
		"db_client_connection_idle_min",
		"db_client_connection_max",
		"db_client_connection_pending_requests",
		"db_client_connection_timeouts_total",
		"redis_client_connection_closed_total",
		"redis_client_connection_hits_total",
		"redis_client_connection_misses_total",
		"redis_client_connection_waits_total",
		"redis_client_connection_stale_total",
		"redis_client_connection_unusable_total",
		"redis_client_health_checks_total",
		"redis_client_health_up",
		// Agent (agent/).
		"process_memory_usage_bytes",
		"process_memory_virtual_bytes",
		"poolscope_process_memory_pss_bytes",
		"poolscope_process_redis_connections",
		"redis_clients_connected",
		"redis_clients_blocked",
		"redis_clients_max",
		"redis_connections_received_total",
		"redis_connections_rejected_total",
		"poolscope_server_connections",
		"poolscope_server_connection_age_max_seconds",
		"poolscope_server_connection_idle_max_seconds",
		"poolscope_redis_up",
		"poolscope_agent_client_list_skipped_total",
		"redis_cpu_time_seconds_total",
	}
	histograms := []string{
		"db_client_connection_create_time_seconds",
		"db_client_connection_wait_time_seconds",
		"db_client_connection_use_time_seconds",
		"redis_client_connection_lifetime_seconds",
		"redis_client_health_duration_seconds",
		"redis_client_connection_demand",
	}
	for _, h := range histograms {
		names = append(names, h+"_bucket", h+"_sum", h+"_count")
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}()

// recordedMetrics are the series the recording rules of
// ../prometheus/alerts.yml record: dashboards may use them (the e2e test
// loads the same rules).
var recordedMetrics = func() map[string]bool {
	data, err := os.ReadFile(filepath.Join("..", "prometheus", "alerts.yml"))
	if err != nil {
		panic(err)
	}
	set := map[string]bool{}
	for _, m := range recordRule.FindAllSubmatch(data, -1) {
		set[string(m[1])] = true
	}
	return set
}()

var recordRule = regexp.MustCompile(`(?m)^\s*- record:\s*(\S+)\s*$`)

// testVars are concrete values for every template variable the dashboards use.
var testVars = map[string]string{
	"service":         "checkout",
	"pool":            "master",
	"server":          "10.0.0.5",
	"__rate_interval": "1m",
	"__interval":      "15s",
}

// The units the dashboards may use; anything else is probably a typo that
// Grafana would show as a raw number.
var allowedUnits = []string{"bytes", "s", "short", "percentunit"}

func committedDashboards(t *testing.T) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	for _, name := range DashboardFileNames() {
		data, err := os.ReadFile(filepath.Join("dashboards", name))
		if err != nil {
			t.Fatalf("read committed dashboard (run `go generate ./collector-config/grafana/`): %v", err)
		}
		files[name] = data
	}
	return files
}

func TestCommittedDashboardsAreUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDashboards(dir); err != nil {
		t.Fatal(err)
	}
	generated, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range generated {
		names = append(names, e.Name())
	}
	if want := DashboardFileNames(); !slices.Equal(names, want) {
		t.Fatalf("generated files %v, want %v", names, want)
	}
	committed := committedDashboards(t)
	for _, name := range names {
		fresh, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed[name]) {
			t.Errorf("dashboards/%s is stale: run `go generate ./collector-config/grafana/` and commit the result", name)
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	first, err := GenerateDashboards()
	if err != nil {
		t.Fatal(err)
	}
	second, err := GenerateDashboards()
	if err != nil {
		t.Fatal(err)
	}
	for name := range first {
		if !bytes.Equal(first[name], second[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

// decode unmarshals a dashboard into the SDK's types and checks the parts
// Grafana needs: a uid, the template variables, units and unique panel ids.
func TestDashboardsUnmarshalIntoSDKTypes(t *testing.T) {
	registerPlugins()
	for name, data := range committedDashboards(t) {
		t.Run(name, func(t *testing.T) {
			var board dashboard.Dashboard
			if err := json.Unmarshal(data, &board); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if board.Uid == nil || *board.Uid+".json" != name {
				t.Errorf("uid %v does not match file name %s", board.Uid, name)
			}
			var variables []string
			for _, v := range board.Templating.List {
				variables = append(variables, v.Name)
			}
			for _, want := range []string{"datasource", "service", "pool", "server"} {
				if !slices.Contains(variables, want) {
					t.Errorf("no template variable %q (have %v)", want, variables)
				}
			}

			ids := map[uint32]string{}
			checkPanel := func(p dashboard.Panel) {
				title := ""
				if p.Title != nil {
					title = *p.Title
				}
				if p.Id == nil {
					t.Errorf("panel %q has no id", title)
				} else if other, dup := ids[*p.Id]; dup {
					t.Errorf("panels %q and %q share id %d", other, title, *p.Id)
				} else {
					ids[*p.Id] = title
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", title)
				}
				if p.FieldConfig == nil || p.FieldConfig.Defaults.Unit == nil {
					t.Errorf("panel %q has no unit", title)
				} else if unit := *p.FieldConfig.Defaults.Unit; !slices.Contains(allowedUnits, unit) {
					t.Errorf("panel %q has unit %q, want one of %v", title, unit, allowedUnits)
				}
				if p.Description == nil || *p.Description == "" {
					t.Errorf("panel %q has no description", title)
				}
			}
			for _, p := range board.Panels {
				switch {
				case p.Panel != nil:
					checkPanel(*p.Panel)
				case p.RowPanel != nil:
					if _, dup := ids[p.RowPanel.Id]; dup || p.RowPanel.Id == 0 {
						t.Errorf("row %v has a missing or duplicate id %d", p.RowPanel.Title, p.RowPanel.Id)
					}
					ids[p.RowPanel.Id] = "row"
					for _, nested := range p.RowPanel.Panels {
						checkPanel(nested)
					}
				}
			}
		})
	}
}

// promqlParser has the default options: no experimental functions, which the
// Prometheus the e2e test runs (Debian's 2.42) would not know either.
var promqlParser = parser.NewParser(parser.Options{})

// metricNames returns the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names
}

func TestEveryQueryParsesAndUsesContractMetrics(t *testing.T) {
	used := map[string]bool{}
	for name, data := range committedDashboards(t) {
		queries, err := Queries(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(queries) == 0 {
			t.Fatalf("%s: no queries", name)
		}
		for _, q := range queries {
			where := q.Dashboard + " / " + q.Panel + " / " + q.RefID
			expr := Substitute(q.Expr, testVars)
			if left := variableRef.FindString(expr); left != "" {
				t.Errorf("%s: template variable %s left after substitution in %s", where, left, expr)
				continue
			}
			parsed, err := promqlParser.ParseExpr(expr)
			if err != nil {
				t.Errorf("%s: %v\n  %s", where, err, expr)
				continue
			}
			names := metricNames(parsed)
			if len(names) == 0 {
				t.Errorf("%s: selects no metric: %s", where, expr)
			}
			for _, n := range names {
				if !contractMetrics[n] && !recordedMetrics[n] {
					t.Errorf("%s: metric %q is not in poolscope's metric contract", where, n)
				}
				used[n] = true
			}
		}
	}

	// Every metric poolscope exports is on some panel (histograms through
	// their buckets).
	var unused []string
	for n := range contractMetrics {
		if used[n] {
			continue
		}
		if base, ok := cutSuffix(n, "_sum", "_count"); ok && used[base+"_bucket"] {
			continue
		}
		unused = append(unused, n)
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("contract metrics on no panel: %v", unused)
	}
}

func cutSuffix(s string, suffixes ...string) (string, bool) {
	for _, suffix := range suffixes {
		if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
			return s[:len(s)-len(suffix)], true
		}
	}
	return s, false
}

func TestQueriesListsEveryPanelQuery(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("dashboards", PoolsDashboardUID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := Queries(data)
	if err != nil {
		t.Fatal(err)
	}
	want := PanelQuery{
		Dashboard: PoolsDashboardUID,
		Panel:     "Connections by pool: used, idle, max",
		RefID:     "B",
		Expr:      `sum by (job, db_client_connection_pool_name) (db_client_connection_max{job=~"$service", db_client_connection_pool_name=~"$pool", server_address=~"$server"})`,
	}
	if !slices.Contains(queries, want) {
		t.Errorf("Queries does not list %+v", want)
	}
	// Every panel of the pools dashboard has at least one query listed.
	var board struct {
		Panels []struct {
			Type  string `json:"type"`
			Title string `json:"title"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &board); err != nil {
		t.Fatal(err)
	}
	for _, p := range board.Panels {
		if p.Type == "row" {
			continue
		}
		if !slices.ContainsFunc(queries, func(q PanelQuery) bool { return q.Panel == p.Title }) {
			t.Errorf("panel %q has no query in Queries' result", p.Title)
		}
	}
}

func TestQueriesRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"not JSON", `{"panels": [`},
		{"non-Prometheus query", `{"uid": "x", "panels": [{"type": "timeseries", "title": "p", "datasource": {"type": "loki"}, "targets": [{"refId": "A", "expr": "{job=\"x\"}", "datasource": {"type": "loki"}}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Queries([]byte(tt.json)); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestQueriesWalksCollapsedRows(t *testing.T) {
	const board = `{"uid": "d", "panels": [
	  {"type": "row", "id": 1, "title": "r", "collapsed": true, "panels": [
	    {"type": "timeseries", "id": 2, "title": "nested", "datasource": {"type": "prometheus", "uid": "p"},
	     "targets": [{"refId": "A", "expr": "up", "datasource": {"type": "prometheus", "uid": "p"}}]}]}]}`
	queries, err := Queries([]byte(board))
	if err != nil {
		t.Fatal(err)
	}
	want := []PanelQuery{{Dashboard: "d", Panel: "nested", RefID: "A", Expr: "up"}}
	if !slices.Equal(queries, want) {
		t.Errorf("Queries = %+v, want %+v", queries, want)
	}
}

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"server": "10.0.0.5", "pool": "master", "__rate_interval": "1m"}
	tests := []struct {
		name, in, want string
	}{
		{"dollar", `x{server_address=~"$server"}`, `x{server_address=~"10.0.0.5"}`},
		{"braces", `x{p=~"${pool}"}`, `x{p=~"master"}`},
		{"braces with format", `x{p=~"${pool:regex}"}`, `x{p=~"master"}`},
		{"brackets", `x{p=~"[[pool]]"}`, `x{p=~"master"}`},
		{"built-in", `rate(x[$__rate_interval])`, `rate(x[1m])`},
		{"longer name is another variable", `x{a="$server_port"}`, `x{a="$server_port"}`},
		{"unknown variable", `x{a="$service"}`, `x{a="$service"}`},
		{"label_replace group", `label_replace(x, "a", "$1", "b", "(.*)")`, `label_replace(x, "a", "$1", "b", "(.*)")`},
		{"several", `x{a="$pool", b="$server"}[$__rate_interval]`, `x{a="master", b="10.0.0.5"}[1m]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Substitute(tt.in, vars); got != tt.want {
				t.Errorf("Substitute(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
