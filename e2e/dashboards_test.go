package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/poolscope/poolscope/collector-config/grafana"
	"github.com/poolscope/poolscope/internal/redistest"
)

// dashboardVars are the values Grafana substitutes when a user opens a
// dashboard: every multi-value variable starts at "All", whose allValue is
// ".*". $__rate_interval is Grafana's max(4 x scrape interval, $__interval +
// scrape interval) for the test's 1 s scrapes, rounded up to 10 s so that a
// rate() always spans several exports.
var dashboardVars = map[string]string{
	"service":         ".*",
	"pool":            ".*",
	"server":          ".*",
	"__rate_interval": "10s",
	"__interval":      "2s",
}

// The window and resolution of the range queries, as a dashboard showing
// the last minute would ask for them.
const (
	panelWindow = time.Minute
	panelStep   = 2 * time.Second
	// panelDeadline bounds how long a query may stay empty: rates need two
	// exports in their window and recycled connections a few seconds.
	panelDeadline = 60 * time.Second
)

type panelResult struct {
	q       grafana.PanelQuery
	expr    string
	series  int
	numbers int
	err     error
}

func (r panelResult) ok() bool { return r.err == nil && r.numbers > 0 }

func (r panelResult) problem() string {
	switch {
	case r.err != nil:
		return "query error: " + r.err.Error()
	case r.series == 0:
		return "empty result"
	case r.numbers == 0:
		return fmt.Sprintf("%d series, but every point is NaN or Inf (Grafana draws nothing)", r.series)
	}
	return ""
}

// checkDashboards runs every query of every panel of the generated
// dashboards, with the variables substituted, as range queries against
// Prometheus, until each returns at least one number. It then reports every
// query that stayed empty or failed, naming the dashboard, the panel and
// the query. It also runs each dashboard variable's label_values query.
func checkDashboards(t *testing.T, ctx context.Context, s *e2eStack) {
	dir := filepath.Join(s.repo, "collector-config", "grafana", "dashboards")
	var results []*panelResult
	var boards = map[string][]byte{}
	for _, name := range grafana.DashboardFileNames() {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		boards[name] = data
		queries, err := grafana.Queries(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(queries) == 0 {
			t.Fatalf("%s: no panel queries", name)
		}
		for _, q := range queries {
			results = append(results, &panelResult{q: q, expr: grafana.Substitute(q.Expr, dashboardVars)})
		}
	}

	start := time.Now()
	deadline := start.Add(panelDeadline)
	for {
		pending := 0
		for _, r := range results {
			if r.ok() || (knownEmpty(r.expr) != "" && r.err == nil && r.series == 0 && time.Since(start) > 15*time.Second) {
				continue
			}
			r.series, r.numbers, r.err = rangeQuery(ctx, s.prometheus.API, r.expr)
			if !r.ok() {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Second):
		}
	}

	var failed int
	for _, r := range results {
		gap := knownEmpty(r.expr)
		switch {
		case r.ok() && gap != "":
			failed++
			t.Errorf("panel %q (dashboard %s, query %s) now returns data: the known gap %q is fixed; delete it from e2e/knowngaps_test.go", r.q.Panel, r.q.Dashboard, r.q.RefID, gap)
			continue
		case r.ok():
			t.Logf("ok    %s / %q / %s: %d series, %d points", r.q.Dashboard, r.q.Panel, r.q.RefID, r.series, r.numbers)
			continue
		case gap != "" && r.err == nil && r.series == 0:
			t.Logf("KNOWN GAP %s / %q / %s: empty: %s", r.q.Dashboard, r.q.Panel, r.q.RefID, gap)
			continue
		}
		failed++
		t.Errorf("panel %q (dashboard %s, query %s): %s\n    expr: %s", r.q.Panel, r.q.Dashboard, r.q.RefID, r.problem(), r.expr)
	}
	t.Logf("%d panel queries of %d dashboards, %d failed, checked in %s", len(results), len(boards), failed, time.Since(start).Round(100*time.Millisecond))

	for name, data := range boards {
		checkVariables(t, ctx, s, name, data)
	}
}

// rangeQuery runs expr over the last panelWindow.
func rangeQuery(ctx context.Context, api promv1.API, expr string) (series, numbers int, err error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	end := time.Now()
	v, _, err := api.QueryRange(qctx, expr, promv1.Range{Start: end.Add(-panelWindow), End: end, Step: panelStep})
	if err != nil {
		return 0, 0, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return 0, 0, fmt.Errorf("got a %s, want a matrix", v.Type())
	}
	series, numbers = rangeSummary(m)
	return series, numbers, nil
}

// labelValuesCall matches Grafana's label_values(selector, label).
var labelValuesCall = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// checkVariables runs each query variable of a dashboard the way Grafana
// fills its drop-down, with the variables before it at "All", and fails on
// a variable without values.
func checkVariables(t *testing.T, ctx context.Context, s *e2eStack, name string, data []byte) {
	var board struct {
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &board); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, v := range board.Templating.List {
		if v.Type != "query" {
			continue
		}
		var query string
		if err := json.Unmarshal(v.Query, &query); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Errorf("%s: variable %q: query %s is neither a string nor {query}", name, v.Name, v.Query)
				continue
			}
			query = obj.Query
		}
		m := labelValuesCall.FindStringSubmatch(grafana.Substitute(query, dashboardVars))
		if m == nil {
			t.Errorf("%s: variable %q: %q is not label_values(selector, label)", name, v.Name, query)
			continue
		}
		var values model.LabelValues
		redistest.Eventually(t, 30*time.Second, func() error {
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			end := time.Now()
			var err error
			values, _, err = s.prometheus.API.LabelValues(qctx, m[2], []string{m[1]}, end.Add(-panelWindow), end)
			if err != nil {
				return fmt.Errorf("%s: variable %q: %s: %w", name, v.Name, query, err)
			}
			if len(values) == 0 {
				return fmt.Errorf("%s: variable %q has no values: %s", name, v.Name, query)
			}
			return nil
		})
		t.Logf("variable %s / $%s: %v", strings.TrimSuffix(name, ".json"), v.Name, values)
	}
}
