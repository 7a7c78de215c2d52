package grafana

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sync"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// PanelQuery is one PromQL query of one panel.
type PanelQuery struct {
	Dashboard string // the dashboard's uid, e.g. "poolscope-pools"
	Panel     string // the panel's title
	RefID     string // the query's refId within the panel: "A", "B", ...
	Expr      string // the PromQL expression, template variables not substituted
}

// The SDK decodes panels and their queries through a process-wide registry
// of plugin types, which must be filled once before the first Unmarshal.
var registerPlugins = sync.OnceFunc(plugins.RegisterDefaultPlugins)

// Queries returns every Prometheus query of every panel of a dashboard, in
// panel order, including panels nested in collapsed rows. The JSON is decoded
// with the Grafana Foundation SDK's dashboard types, so a file the SDK cannot
// read is an error. Panels whose queries are not Prometheus queries are an
// error too: poolscope's dashboards have none.
func Queries(dashboardJSON []byte) ([]PanelQuery, error) {
	registerPlugins()
	var board dashboard.Dashboard
	if err := json.Unmarshal(dashboardJSON, &board); err != nil {
		return nil, fmt.Errorf("grafana: decode dashboard: %w", err)
	}
	uid := ""
	if board.Uid != nil {
		uid = *board.Uid
	}
	var out []PanelQuery
	add := func(panel dashboard.Panel) error {
		title := ""
		if panel.Title != nil {
			title = *panel.Title
		}
		for i, t := range panel.Targets {
			var q prometheus.Dataquery
			switch v := t.(type) {
			case prometheus.Dataquery:
				q = v
			case *prometheus.Dataquery:
				q = *v
			default:
				return fmt.Errorf("grafana: dashboard %q panel %q query %d: %T is not a Prometheus query", uid, title, i, t)
			}
			refID := ""
			if q.RefId != nil {
				refID = *q.RefId
			}
			out = append(out, PanelQuery{Dashboard: uid, Panel: title, RefID: refID, Expr: q.Expr})
		}
		return nil
	}
	for _, p := range board.Panels {
		switch {
		case p.Panel != nil:
			if err := add(*p.Panel); err != nil {
				return nil, err
			}
		case p.RowPanel != nil:
			for _, nested := range p.RowPanel.Panels {
				if err := add(nested); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// variableRef matches Grafana's three template variable syntaxes: $name,
// ${name} (optionally ${name:format}) and [[name]].
var variableRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z_][A-Za-z0-9_]*)\]\]`)

// Substitute replaces Grafana template variables in expr with the values in
// vars, keyed by name without the "$" (for example "service", "pool",
// "server", "__rate_interval", "__interval"). A reference is always read up
// to the end of its name, as Grafana reads it, so "server" never replaces the
// start of $server_port. Variables not in vars, and the "$1" of PromQL's
// label_replace, are left as they are.
func Substitute(expr string, vars map[string]string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3] // exactly one group matched
		if value, ok := vars[name]; ok {
			return value
		}
		return ref
	})
}
