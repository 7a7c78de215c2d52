package grafana

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Every panel and query reads from the Prometheus chosen in the dashboard's
// "datasource" variable, so the dashboards work with any Prometheus data
// source, not only the provisioned one.
var prometheusDatasource = common.DataSourceRef{
	Type: cog.ToPtr("prometheus"),
	Uid:  cog.ToPtr("${datasource}"),
}

// target is one PromQL query of a panel and its legend.
type target struct {
	expr   string
	legend string
}

// refIDs are given in order: A, B, C...
func queryBuilders(targets []target) []cog.Builder[variants.Dataquery] {
	builders := make([]cog.Builder[variants.Dataquery], 0, len(targets))
	for i, t := range targets {
		builders = append(builders, prometheus.NewDataqueryBuilder().
			Datasource(prometheusDatasource).
			RefId(string(rune('A'+i))).
			Expr(t.expr).
			LegendFormat(t.legend).
			Range())
	}
	return builders
}

// timeseriesPanel is a line chart; width is out of 24 grid columns.
func timeseriesPanel(title, description, unit string, width uint32, targets ...target) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(prometheusDatasource).
		Unit(unit).
		Min(0).
		Span(width).
		Height(8).
		FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom)).
		Targets(queryBuilders(targets))
}

// upDownStatPanel shows one box per series, UP (green) for 1 and DOWN (red)
// for 0, for the *_up gauges.
func upDownStatPanel(title, description string, width uint32, targets ...target) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(prometheusDatasource).
		Unit(units.Short).
		Span(width).
		Height(6).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValueAndName).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Mappings([]dashboard.ValueMapping{{
			ValueMap: &dashboard.ValueMap{
				Type: dashboard.MappingTypeValueToText,
				Options: map[string]dashboard.ValueMappingResult{
					"0": {Text: cog.ToPtr("DOWN"), Color: cog.ToPtr("red"), Index: cog.ToPtr[int32](0)},
					"1": {Text: cog.ToPtr("UP"), Color: cog.ToPtr("green"), Index: cog.ToPtr[int32](1)},
				},
			},
		}}).
		Targets(queryBuilders(targets))
}

// bucketHeatmapPanel draws a Prometheus histogram's buckets over time.
func bucketHeatmapPanel(title, description, unit string, width uint32, expr string) *heatmap.PanelBuilder {
	return heatmap.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(prometheusDatasource).
		Unit(unit).
		Span(width).
		Height(8).
		Calculate(false).
		YAxis(heatmap.NewYAxisConfigBuilder().Unit(unit)).
		Color(heatmap.NewHeatmapColorOptionsBuilder().
			Mode(heatmap.HeatmapColorModeScheme).
			Scheme("Oranges").
			Scale(heatmap.HeatmapColorScaleExponential).
			Exponent(0.5).
			Steps(64)).
		Targets([]cog.Builder[variants.Dataquery]{
			prometheus.NewDataqueryBuilder().
				Datasource(prometheusDatasource).
				RefId("A").
				Expr(expr).
				LegendFormat("{{le}}").
				Format(prometheus.PromQueryFormatHeatmap).
				Range(),
		})
}

// quantiles returns one histogram_quantile target per quantile, aggregating
// the histogram's buckets by the given labels.
func quantiles(histogram, selector string, by []string, legend string, qs ...float64) []target {
	targets := make([]target, 0, len(qs))
	byLE := strings.Join(append(append([]string(nil), by...), "le"), ", ")
	for _, q := range qs {
		targets = append(targets, target{
			expr: fmt.Sprintf("histogram_quantile(%g, sum by (%s) (rate(%s_bucket%s[$__rate_interval])))",
				q, byLE, histogram, selector),
			legend: fmt.Sprintf("p%g %s", q*100, legend),
		})
	}
	return targets
}

// queryVariable is a multi-value variable filled from label_values, with
// "All" matching everything (including series without the label).
func queryVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(prometheusDatasource).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Prometheus").
		Type("prometheus")
}

// newDashboard sets what every poolscope dashboard shares: tags, refresh,
// time range, and a link to the other poolscope dashboards that keeps the
// time range and variables.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"poolscope", "redis"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("poolscope dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"poolscope"}).
			AsDropdown(false).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(datasourceVariable())
}
