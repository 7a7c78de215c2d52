package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/poolscope/poolscope/advise"
)

// writeAdviceText prints the pools' table with each pool's reason, the
// servers' budgets and the variables to set per service.
func writeAdviceText(w io.Writer, f adviseFlags, r advise.Report) {
	fmt.Fprintf(w, "poolscope advise: %s, window %s in %d intervals of %s, wait p99 target %s\n\n",
		f.prometheus, f.window, int(f.window/f.step), f.step, f.waitTarget)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "service\tpool\tserver\tprocs\tmax\tdemand q99\tpeak\thold\twait p99\ttimeouts\tadvice\tsize\twait p99 then\tconns/proc\tconns/service\tmemory/service\t")
	for _, a := range r.Pools {
		size, then, perProcess, perService, memory := fmt.Sprint(a.Recommended), fmtLatency(a.ExpectedWaitP99),
			fmtDelta(a.DeltaConnectionsPerProcess), fmtDelta(a.DeltaConnectionsService), fmtBytesDelta(a.DeltaMemoryService)
		if a.Verdict == advise.NotEnoughData { // nothing advised: no change to show
			size, then, perProcess, perService, memory = "-", "-", "-", "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			a.Service, a.Pool, orDash(a.Server), a.Processes, a.Current, fmtCount(a.DemandHigh), fmtCount(a.DemandPeak),
			fmtLatency(a.HoldMean), fmtLatency(a.WaitP99), fmtCount(a.Timeouts), a.Verdict, size, then, perProcess, perService, memory)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, a := range r.Pools {
		fmt.Fprintf(w, "  %s/%s: %s: %s", a.Service, a.Pool, a.Verdict, a.Reason)
		if len(a.Missing) > 0 {
			fmt.Fprintf(w, " (missing: %s)", strings.Join(a.Missing, "; "))
		}
		fmt.Fprintln(w)
	}
	writeMemoryText(w, r.Memory)
	writeBudgets(w, r.Servers)
	writeEnvBlocks(w, r.Pools)
}

func writeBudgets(w io.Writer, servers []advise.ServerBudget) {
	if len(servers) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tmaxclients\tbudget limit\tfleet budget now\tafter advice\tfits\t")
	for _, b := range servers {
		fits := "yes"
		if !b.Fits {
			fits = "NO"
		}
		if b.Limit == 0 {
			fits = "unknown"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t\n", b.Server, orDash(itoaPositive(b.MaxClients)), orDash(itoaPositive(b.Limit)), b.Before, b.After, fits)
	}
	_ = tw.Flush()
	for _, b := range servers {
		if b.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", b.Server, b.Note)
		}
	}
}

// poolVariables are the variables pools reads for each role's size
// (pools/config.go); other pool names are plain clients sized in code.
var poolVariables = map[string]struct{ size, min string }{
	"master":  {size: "REDIS_MASTER_POOL_SIZE"},
	"replica": {size: "REDIS_SLAVE_POOL_SIZE"},
	"local":   {size: "REDIS_LOCAL_POOL_SIZE"},
	"async":   {size: "REDIS_ASYNC_POOL_MAX", min: "REDIS_ASYNC_POOL_MIN"},
}

// envLines are the lines to set for one service. A role whose pool points
// at several servers takes the largest size advised for any of them.
func envLines(pools []advise.PoolAdvice) []string {
	type sizes struct{ size, min int }
	byRole := map[string]sizes{}
	var lines []string
	for _, a := range pools {
		_, ok := poolVariables[a.Pool]
		switch {
		case a.Verdict == advise.NotEnoughData:
			lines = append(lines, fmt.Sprintf("# %s: not enough data, size left as is", a.Pool))
		case !ok:
			lines = append(lines, fmt.Sprintf("# %s (%s): not a pools role; set its client's PoolSize to %d", a.Pool, orDash(a.Server), a.Recommended))
		default:
			s := byRole[a.Pool]
			byRole[a.Pool] = sizes{max(s.size, a.Recommended), max(s.min, a.RecommendedMin)}
		}
	}
	for _, role := range []string{"master", "replica", "local", "async"} {
		s, ok := byRole[role]
		if !ok {
			continue
		}
		v := poolVariables[role]
		if v.min != "" {
			lines = append(lines, fmt.Sprintf("%s=%d", v.min, min(s.min, s.size)))
		}
		lines = append(lines, fmt.Sprintf("%s=%d", v.size, s.size))
	}
	return lines
}

func writeEnvBlocks(w io.Writer, pools []advise.PoolAdvice) {
	for service, ps := range groupByService(pools) {
		fmt.Fprintf(w, "\n# %s\n%s\n", service, strings.Join(envLines(ps), "\n"))
	}
}

// groupByService returns the pools per service, in service order.
func groupByService(pools []advise.PoolAdvice) func(yield func(string, []advise.PoolAdvice) bool) {
	return func(yield func(string, []advise.PoolAdvice) bool) {
		sorted := slices.Clone(pools)
		slices.SortStableFunc(sorted, func(a, b advise.PoolAdvice) int { return cmp.Compare(a.Service, b.Service) })
		for i := 0; i < len(sorted); {
			j := i
			for j < len(sorted) && sorted[j].Service == sorted[i].Service {
				j++
			}
			if !yield(sorted[i].Service, sorted[i:j]) {
				return
			}
			i = j
		}
	}
}

// JSON: a stable interface for scripts. Unknown figures are null.

type poolAdviceJSON struct {
	Service                    string   `json:"service"`
	Pool                       string   `json:"pool"`
	Server                     string   `json:"server"`
	Processes                  int      `json:"processes"`
	Verdict                    string   `json:"verdict"`
	Reason                     string   `json:"reason"`
	Missing                    []string `json:"missing,omitempty"`
	Max                        int      `json:"max"`
	Min                        int      `json:"min"`
	RecommendedMax             int      `json:"recommended_max"`
	RecommendedMin             int      `json:"recommended_min"`
	ModelSize                  int      `json:"model_size"`
	CappedByServer             bool     `json:"capped_by_server"`
	DemandHigh                 *float64 `json:"demand_high"`
	DemandPeak                 *float64 `json:"demand_peak"`
	HoldSeconds                *float64 `json:"hold_seconds"`
	WaitP99Seconds             *float64 `json:"wait_p99_seconds"`
	Timeouts                   *float64 `json:"timeouts"`
	ExpectedWaitP99Seconds     *float64 `json:"expected_wait_p99_seconds"`
	ExpectedP99Seconds         *float64 `json:"expected_p99_seconds"`
	Criterion                  string   `json:"criterion"`
	ServerBusy                 *float64 `json:"server_busy"`
	DeltaConnectionsPerProcess *float64 `json:"delta_connections_per_process"`
	DeltaConnectionsService    *float64 `json:"delta_connections_service"`
	DeltaBytesPerProcess       *float64 `json:"delta_bytes_per_process"`
	DeltaBytesService          *float64 `json:"delta_bytes_service"`
}

type serverBudgetJSON struct {
	Server     string   `json:"server"`
	MaxClients int      `json:"maxclients"`
	Limit      int      `json:"limit"`
	Before     int      `json:"budget_before"`
	After      int      `json:"budget_after"`
	Fits       bool     `json:"fits"`
	Pools      []string `json:"pools"`
	Note       string   `json:"note,omitempty"`
}

func writeAdviceJSON(w io.Writer, f adviseFlags, r advise.Report) {
	out := struct {
		Prometheus    string              `json:"prometheus"`
		WindowSeconds float64             `json:"window_seconds"`
		StepSeconds   float64             `json:"step_seconds"`
		TargetSeconds float64             `json:"wait_p99_target_seconds"`
		Pools         []poolAdviceJSON    `json:"pools"`
		Servers       []serverBudgetJSON  `json:"servers"`
		Memory        []memoryJSON        `json:"memory_per_connection"`
		Env           map[string][]string `json:"env"`
	}{Memory: memoryEntries(r.Memory), Prometheus: f.prometheus.String(), WindowSeconds: f.window.Seconds(), StepSeconds: f.step.Seconds(),
		TargetSeconds: f.waitTarget.Seconds(), Pools: []poolAdviceJSON{}, Servers: []serverBudgetJSON{}, Env: map[string][]string{}}
	for _, a := range r.Pools {
		out.Pools = append(out.Pools, poolAdviceJSON{
			Service: a.Service, Pool: a.Pool, Server: a.Server, Processes: a.Processes, Verdict: string(a.Verdict),
			Reason: a.Reason, Missing: a.Missing, Max: a.Current, Min: a.CurrentMin, RecommendedMax: a.Recommended,
			RecommendedMin: a.RecommendedMin, ModelSize: a.ModelSize, CappedByServer: a.CappedByServer,
			DemandHigh: finite(a.DemandHigh), DemandPeak: finite(a.DemandPeak), HoldSeconds: finite(a.HoldMean),
			WaitP99Seconds: finite(a.WaitP99), Timeouts: finite(a.Timeouts), ExpectedWaitP99Seconds: finite(a.ExpectedWaitP99),
			ExpectedP99Seconds: finite(a.ExpectedP99), Criterion: string(a.Criterion), ServerBusy: finite(a.ServerBusy),
			DeltaConnectionsPerProcess: finite(a.DeltaConnectionsPerProcess), DeltaConnectionsService: finite(a.DeltaConnectionsService),
			DeltaBytesPerProcess: finite(a.DeltaMemoryPerProcess), DeltaBytesService: finite(a.DeltaMemoryService),
		})
	}
	for _, b := range r.Servers {
		out.Servers = append(out.Servers, serverBudgetJSON{Server: b.Server, MaxClients: b.MaxClients, Limit: b.Limit,
			Before: b.Before, After: b.After, Fits: b.Fits, Pools: b.Pools, Note: b.Note})
	}
	for service, ps := range groupByService(r.Pools) {
		out.Env[service] = envLines(ps)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

// finite is nil (JSON null) for NaN and infinities, which JSON cannot carry.
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func fmtCount(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "?"
	}
	switch {
	case x == math.Trunc(x):
		return fmt.Sprintf("%.0f", x)
	case x < 1: // a light load is not "0.0"
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func fmtDelta(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "?"
	}
	if x == math.Trunc(x) || math.Abs(x) >= 10 {
		return fmt.Sprintf("%+.0f", x)
	}
	return fmt.Sprintf("%+.1f", x)
}

// fmtLatency is advise's format, with "?" for an unknown figure.
func fmtLatency(s float64) string {
	if math.IsNaN(s) || s < 0 {
		return "?"
	}
	return advise.FormatSeconds(s)
}

func fmtBytesDelta(b float64) string {
	if math.IsNaN(b) || math.IsInf(b, 0) {
		return "?"
	}
	sign := "+"
	if b < 0 {
		sign, b = "-", -b
	}
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%s%.1f GiB", sign, b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", sign, b/(1<<20))
	}
	return fmt.Sprintf("%s%.0f KiB", sign, b/(1<<10))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func itoaPositive(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprint(n)
}
