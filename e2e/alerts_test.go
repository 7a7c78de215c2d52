package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/poolscope/poolscope/internal/redistest"
)

// testFor replaces every alert's `for:` in the test's copy of alerts.yml.
// The real durations (30 s for PoolHealthCheckFailing, 1 m for RedisDown,
// up to 1 h for others) would keep the test waiting for minutes; nothing
// else in the copy changes, which checkRulesMatch verifies against what
// Prometheus loaded.
const testFor = "3s"

// testRules is the copy of collector-config/prometheus/alerts.yml that
// Prometheus loads, and what the real file says.
type testRules struct {
	path string
	// realExpr and realFor are the real file's expression and duration of
	// each alert, by name.
	realExpr, realFor map[string]string
}

// writeTestRules copies alerts.yml with every `for:` set to testFor,
// editing the YAML tree so that the expressions are kept byte for byte.
func writeTestRules(t *testing.T, real string) *testRules {
	data, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", real, err)
	}
	r := &testRules{path: filepath.Join(t.TempDir(), "alerts.yml"), realExpr: map[string]string{}, realFor: map[string]string{}}
	for _, group := range seq(mapValue(doc.Content[0], "groups")) {
		for _, rule := range seq(mapValue(group, "rules")) {
			name := mapValue(rule, "alert")
			expr := mapValue(rule, "expr")
			if name == nil || expr == nil {
				continue // a recording rule
			}
			r.realExpr[name.Value] = expr.Value
			if f := mapValue(rule, "for"); f != nil {
				r.realFor[name.Value] = f.Value
				f.Value = testFor
			}
		}
	}
	if len(r.realExpr) == 0 {
		t.Fatalf("%s: no alerting rules found", real)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// checkRulesMatch checks that Prometheus loaded every alert of the real
// file with the real expression (compared after parsing, so formatting does
// not matter) and the test's shorter duration.
func checkRulesMatch(t *testing.T, ctx context.Context, s *e2eStack) {
	result, err := s.prometheus.API.Rules(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]promv1.AlertingRule{}
	for _, g := range result.Groups {
		for _, r := range g.Rules {
			if a, ok := r.(promv1.AlertingRule); ok {
				loaded[a.Name] = a
			}
		}
	}
	p := parser.NewParser(parser.Options{})
	for name, realExpr := range s.rules.realExpr {
		a, ok := loaded[name]
		if !ok {
			t.Errorf("alert %s of alerts.yml is not loaded by Prometheus", name)
			continue
		}
		want, err := p.ParseExpr(realExpr)
		if err != nil {
			t.Errorf("alert %s: alerts.yml's expression does not parse: %v", name, err)
			continue
		}
		got, err := p.ParseExpr(a.Query)
		if err != nil {
			t.Errorf("alert %s: loaded query %q does not parse: %v", name, a.Query, err)
			continue
		}
		if got.String() != want.String() {
			t.Errorf("alert %s: Prometheus evaluates %s, alerts.yml says %s", name, got, want)
		}
		if a.Duration != mustSeconds(t, testFor) {
			t.Errorf("alert %s: loaded with for %gs, want the test's %s", name, a.Duration, testFor)
		}
	}
	if len(loaded) != len(s.rules.realExpr) {
		t.Errorf("Prometheus loaded %d alerts, alerts.yml has %d", len(loaded), len(s.rules.realExpr))
	}
	t.Logf("Prometheus loaded the %d alerts of alerts.yml with their real expressions; for: %s instead of %v", len(loaded), testFor, s.rules.realFor)
}

func mustSeconds(t *testing.T, d string) float64 {
	v, err := time.ParseDuration(d)
	if err != nil {
		t.Fatal(err)
	}
	return v.Seconds()
}

// watchedAlert is an alert the test waits for, identified by its name and
// one label.
type watchedAlert struct {
	name, label, value string
	wantSummary        string   // the summary annotation it must have
	summary            string   // the one it has
	states             []string // the states seen, in order, with when
	firing             bool
}

func (w *watchedAlert) String() string {
	return fmt.Sprintf("%s{%s=%q}", w.name, w.label, w.value)
}

// checkHealthAlerts stops the local Redis server and waits until the
// workload's failing health checks (PoolHealthCheckFailing for the local
// pool) and the agent's failing polls (RedisDown for the local server)
// are firing in Prometheus, logging the pending and firing states as they
// appear.
func checkHealthAlerts(t *testing.T, ctx context.Context, s *e2eStack) {
	checkRulesMatch(t, ctx, s)

	// A healthy, quiet workload whose master pool holds a subscription on
	// top of its 4 pooled connections is no leak: the real expression must
	// be empty (it fired here before pub/sub connections were accounted
	// for).
	leak := s.rules.realExpr["ServerConnectionsAbovePoolMax"]
	redistest.Eventually(t, settleDeadline, func() error {
		vec, err := instant(ctx, s.prometheus.API, leak)
		if err != nil {
			return err
		}
		if len(vec) > 0 {
			return fmt.Errorf("ServerConnectionsAbovePoolMax's expression matches a healthy workload: %s", vectorString(vec))
		}
		return nil
	})
	t.Log("ServerConnectionsAbovePoolMax's expression is empty for the healthy workload")

	upQuery := `redis_client_health_up{job="` + workloadService + `", db_client_connection_pool_name="local"}`
	redistest.Eventually(t, settleDeadline, func() error {
		vec, err := instant(ctx, s.prometheus.API, upQuery)
		if err != nil {
			return err
		}
		if len(vec) != 1 || vec[0].Value != 1 {
			return fmt.Errorf("%s = [%s], want one series at 1 before the server stops", upQuery, vectorString(vec))
		}
		return nil
	})

	watched := []*watchedAlert{
		{name: "PoolHealthCheckFailing", label: "db_client_connection_pool_name", value: "local",
			wantSummary: "Health checks of pool local of " + workloadService + " fail"},
		// A unix socket has no port: the summary must not end in "sock:".
		{name: "RedisDown", label: "server_address", value: s.local.Socket,
			wantSummary: "Redis " + s.local.Socket + " is down"},
	}
	if err := s.local.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Logf("stopped the local Redis server (%s)", s.local.Socket)

	var last promv1.AlertsResult
	deadline := stopped.Add(60 * time.Second)
	for {
		var err error
		last, err = s.prometheus.API.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for _, w := range watched {
			state := ""
			for _, a := range last.Alerts {
				if string(a.Labels["alertname"]) == w.name && string(a.Labels[modelLabel(w.label)]) == w.value {
					state = string(a.State)
					w.summary = string(a.Annotations["summary"])
				}
			}
			if state != "" && (len(w.states) == 0 || !strings.HasPrefix(w.states[len(w.states)-1], state+" ")) {
				w.states = append(w.states, fmt.Sprintf("%s after %s", state, time.Since(stopped).Round(100*time.Millisecond)))
			}
			w.firing = state == string(promv1.AlertStateFiring)
			done = done && w.firing
		}
		if done || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	for _, w := range watched {
		if !w.firing {
			t.Errorf("%s not firing %s after the server stopped; states seen: %v; workload health: %s", w, time.Since(stopped).Round(time.Second), w.states, s.workload.LogTail(5))
			continue
		}
		t.Logf("%s: %s; summary %q", w, strings.Join(w.states, ", then "), w.summary)
		if w.summary != w.wantSummary {
			t.Errorf("%s: summary %q, want %q", w, w.summary, w.wantSummary)
		}
	}
	var firing []string
	for _, a := range last.Alerts {
		firing = append(firing, fmt.Sprintf("%s %s: %s", a.State, a.Labels, a.Annotations["summary"]))
	}
	sort.Strings(firing)
	t.Logf("every alert in Prometheus at the end (for: %s):\n%s", testFor, strings.Join(firing, "\n"))
}
