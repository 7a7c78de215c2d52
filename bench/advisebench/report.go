package advisebench

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/poolscope/poolscope/advise"
)

// Report prints the sweep and advice tables, the machine's load and, last,
// the summary line.
func Report(w io.Writer, results []ShapeResult, s Settings) {
	fmt.Fprintf(w, "advise oracle benchmark: runs of %s (+%s warm-up), scraped every %s; wait target %s; criterion: p99 <= unbounded p99 + max(10%%, wait target)\n\n",
		s.Duration, s.Warmup, s.Step, s.WaitTarget)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "shape\tcallers\tunbounded p99 (runs)\tlimit\tsweep (size:p99)\toracle")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%s (%s)\t%s\t%s\t%d\n", r.Shape.Name, r.Shape.Callers, ms(r.Unbounded.P99), p99List(r.References),
			ms(r.Limit), sweepText(r.Sweep), r.Oracle)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "shape\trun at\tp99\twait p99\tpeak\tseen q99\tserver busy\tverdict\tadvised\toracle..max\trerun p99\tok")
	for _, r := range results {
		for _, a := range r.Advice {
			busy, _ := advise.MedianServerBusy(a.From.Pool.Intervals)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.0f\t%.1f\t%.0f%%\t%s\t%d\t%d..%d\t%s\t%s\n", r.Shape.Name, a.From.Size, ms(a.From.P99),
				advise.FormatSeconds(a.From.Pool.WaitP99), a.From.Pool.PeakDemand, a.From.Pool.Demand.Quantile(0.99),
				100*busy, a.Verdict, a.Size, r.Oracle, limitAbove(r.Oracle),
				ms(a.Rerun.P99), okText(r, a))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range results {
		for _, a := range r.Advice {
			fmt.Fprintf(w, "%s at %d: %s: %s\n", r.Shape.Name, a.From.Size, a.Verdict, a.Reason)
		}
	}
	for _, r := range results {
		fmt.Fprintf(w, "%s: %s\n", r.Shape.Name, r.Shape.About)
	}
	fmt.Fprintf(w, "\n/proc/loadavg: %s\n", loadavg())
	fmt.Fprintln(w, Summary(results))
}

// Summary is the last line: "advise: shapes=N within=W under=U max_over=X%".
func Summary(results []ShapeResult) string {
	within, under, over := 0, 0, 0.0
	for _, r := range results {
		if r.Within() {
			within++
		}
		if r.Under() {
			under++
		}
		over = math.Max(over, r.Over())
	}
	return fmt.Sprintf("advise: shapes=%d within=%d under=%d max_over=%.0f%%", len(results), within, under, over)
}

func okText(r ShapeResult, a Advice) string {
	var why []string
	if a.Size < r.Oracle {
		why = append(why, "under")
	}
	if a.Size > limitAbove(r.Oracle) {
		why = append(why, "over")
	}
	if !r.meets(a.Rerun) {
		why = append(why, "rerun slow")
	}
	if len(why) == 0 {
		return "yes"
	}
	return "no: " + strings.Join(why, ", ")
}

func p99List(runs []Run) string {
	parts := make([]string, len(runs))
	for i, x := range runs {
		parts[i] = ms(x.P99)
	}
	return strings.Join(parts, " ")
}

func sweepText(runs []Run) string {
	parts := make([]string, len(runs))
	for i, x := range runs {
		parts[i] = fmt.Sprintf("%d:%s", x.Size, ms(x.P99))
	}
	return strings.Join(parts, " ")
}

// ms prints a latency in milliseconds with three decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}
