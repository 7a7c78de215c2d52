package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// dashboardBuilders maps each generated file name to its dashboard.
func dashboardBuilders() map[string]*dashboard.DashboardBuilder {
	return map[string]*dashboard.DashboardBuilder{
		PoolsDashboardUID + ".json":   poolsDashboard(),
		ServersDashboardUID + ".json": serversDashboard(),
	}
}

// GenerateDashboards builds every dashboard and returns its JSON (indented,
// with a final newline) by file name, e.g. "poolscope-pools.json".
func GenerateDashboards() (map[string][]byte, error) {
	files := make(map[string][]byte)
	for name, builder := range dashboardBuilders() {
		board, err := builder.Build()
		if err != nil {
			return nil, fmt.Errorf("grafana: build %s: %w", name, err)
		}
		numberPanels(&board)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		// PromQL is full of <, > and &; keep it readable in the file.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(board); err != nil {
			return nil, fmt.Errorf("grafana: encode %s: %w", name, err)
		}
		files[name] = buf.Bytes()
	}
	return files, nil
}

// DashboardFileNames lists the files GenerateDashboards returns, sorted.
func DashboardFileNames() []string {
	names := make([]string, 0, 2)
	for name := range dashboardBuilders() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// WriteDashboards generates every dashboard into dir, creating it if needed.
func WriteDashboards(dir string) error {
	files, err := GenerateDashboards()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("grafana: %w", err)
	}
	var errs []error
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("grafana: %w", err))
		}
	}
	return errors.Join(errs...)
}

// numberPanels gives every panel and row a unique id, in order: the SDK
// leaves rows at 0 and panels without one, and Grafana needs unique ids to
// link to, view or edit a single panel.
func numberPanels(board *dashboard.Dashboard) {
	var id uint32
	next := func() uint32 { id++; return id }
	for i := range board.Panels {
		switch p := &board.Panels[i]; {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(next())
		case p.RowPanel != nil:
			p.RowPanel.Id = next()
			for j := range p.RowPanel.Panels {
				p.RowPanel.Panels[j].Id = cog.ToPtr(next())
			}
		}
	}
}
