package memtable

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Reduction compares pools on with pools off for one transport and N.
type Reduction struct {
	Transport string
	Workers   int
	// ConnsOff and ConnsOn are the median server-side connections per worker.
	ConnsOff, ConnsOn float64
	// RSSPct, VMSPct and PSSPct are the reductions of the per-worker
	// medians, in percent of pools off.
	RSSPct, VMSPct, PSSPct float64
	// SavedRSS, SavedVMS and SavedPSS are the system-wide savings: the sum
	// over the N workers with pools off minus the sum with pools on, bytes.
	SavedRSS, SavedVMS, SavedPSS float64
}

// Reductions pairs every pools-off run with the pools-on run of the same
// transport and N.
func (r *Result) Reductions() []Reduction {
	var out []Reduction
	for _, off := range r.Runs {
		if off.Pools {
			continue
		}
		for _, on := range r.Runs {
			if !on.Pools || on.Transport != off.Transport || on.Workers != off.Workers {
				continue
			}
			m := func(run Run, f func(ProcessSample) float64) float64 { return median(field(run.Samples, f)) }
			s := func(run Run, f func(ProcessSample) float64) float64 { return sum(field(run.Samples, f)) }
			out = append(out, Reduction{
				Transport: off.Transport, Workers: off.Workers,
				ConnsOff: m(off, serverConns), ConnsOn: m(on, serverConns),
				RSSPct:   reductionPct(m(off, rss), m(on, rss)),
				VMSPct:   reductionPct(m(off, vms), m(on, vms)),
				PSSPct:   reductionPct(m(off, pss), m(on, pss)),
				SavedRSS: s(off, rss) - s(on, rss),
				SavedVMS: s(off, vms) - s(on, vms),
				SavedPSS: s(off, pss) - s(on, pss),
			})
		}
	}
	return out
}

// ConnFit is the slope of RSS (bytes) against connections in the
// transport's connection sweep, over the steps with at least one
// connection: the first connection also pays one-off costs (the dialer's
// and TLS stack's code pages and first allocations), which would tilt the
// line through the zero step. ConnFitAll keeps that step.
func (r *Result) ConnFit(transport string) (Fit, bool) {
	var pts []SweepPoint
	for _, p := range r.ConnSweep[transport] {
		if p.X > 0 {
			pts = append(pts, p)
		}
	}
	return sweepFit(pts)
}

// ConnFitAll is the slope over every step of the connection sweep, the
// zero step included.
func (r *Result) ConnFitAll(transport string) (Fit, bool) {
	return sweepFit(r.ConnSweep[transport])
}

// SlotFit is the slope of RSS (bytes) against configured pool slots.
func (r *Result) SlotFit() (Fit, bool) { return sweepFit(r.SlotSweep) }

// SlotFitMaintOff is SlotFit with go-redis's maintenance notifications off.
func (r *Result) SlotFitMaintOff() (Fit, bool) { return sweepFit(r.SlotSweepMaintOff) }

// WorkerFit is the slope of RSS against server-side connections over every
// worker of every run of the transport, pools on and off together. It mixes
// the connections' cost with that of the clients (ten go-redis clients off,
// one shared pool on), so it is reported next to the sweep, not instead.
func (r *Result) WorkerFit(transport string) (Fit, bool) {
	var x, y []float64
	for _, run := range r.Runs {
		if run.Transport == transport {
			x = append(x, field(run.Samples, serverConns)...)
			y = append(y, field(run.Samples, rss)...)
		}
	}
	return fitLine(x, y)
}

func sweepFit(pts []SweepPoint) (Fit, bool) {
	x := make([]float64, len(pts))
	y := make([]float64, len(pts))
	for i, p := range pts {
		x[i], y[i] = float64(p.X), float64(p.Sample.RSS)
	}
	return fitLine(x, y)
}

// Summary holds the figures of the last line.
type Summary struct {
	// RSSReduction and VMSReduction (percent) are for plain connections at
	// the largest N.
	RSSReduction, VMSReduction float64
	// PerConnKiB is the plain connection sweep's slope; TLSExtraKiB the TLS
	// sweep's slope minus it (NaN without TLS).
	PerConnKiB, TLSExtraKiB float64
}

// Summary computes the last line's figures.
func (r *Result) Summary() Summary {
	s := Summary{RSSReduction: math.NaN(), VMSReduction: math.NaN(), PerConnKiB: math.NaN(), TLSExtraKiB: math.NaN()}
	if red, ok := r.headline(); ok {
		s.RSSReduction, s.VMSReduction = red.RSSPct, red.VMSPct
	}
	if f, ok := r.ConnFit(Plain); ok {
		s.PerConnKiB = f.Slope / 1024
		if t, ok := r.ConnFit(TLS); ok {
			s.TLSExtraKiB = (t.Slope - f.Slope) / 1024
		}
	}
	return s
}

// headline is the plain reduction at the largest N.
func (r *Result) headline() (Reduction, bool) {
	var best Reduction
	found := false
	for _, red := range r.Reductions() {
		if red.Transport == Plain && (!found || red.Workers > best.Workers) {
			best, found = red, true
		}
	}
	return best, found
}

// Claim is one figure of the specification next to the measurement.
type Claim struct {
	What string
	Spec string // as the specification says it
	// Low and High bound the agreeing values: the stated range, or X/1.5
	// to 1.5X for "about X".
	Low, High float64
	Measured  float64
	Unit      string
	Source    string // where the measurement comes from
}

// Verdict says whether the measurement agrees with the claim.
func (c Claim) Verdict() string {
	switch {
	case math.IsNaN(c.Measured):
		return "not measured"
	case c.Measured < c.Low:
		return "differs: lower"
	case c.Measured > c.High:
		return "differs: higher"
	}
	return "agrees"
}

// about is the band that counts as agreeing with "about x".
func about(x float64) (float64, float64) { return x / 1.5, x * 1.5 }

// Claims are the specification's figures with the measurements.
func (r *Result) Claims() []Claim {
	nan := math.NaN()
	sum := r.Summary()
	red, ok := r.headline()
	perHundred := func(v float64) float64 {
		if !ok {
			return nan
		}
		return v * 100 / float64(red.Workers) / (1 << 20)
	}
	source := "plain, N=?"
	if ok {
		source = fmt.Sprintf("plain, N=%d, per-worker medians", red.Workers)
	}
	sumSource := source
	if ok {
		sumSource = fmt.Sprintf("plain, N=%d, sums", red.Workers)
		if red.Workers != 100 {
			sumSource += fmt.Sprintf(" scaled x%.3g to 100", 100/float64(red.Workers))
		}
	}
	slot := nan
	if f, ok := r.SlotFit(); ok {
		slot = f.Slope / 1024
	}
	lo := func(x float64) float64 { l, _ := about(x); return l }
	hi := func(x float64) float64 { _, h := about(x); return h }
	return []Claim{
		{What: "per-process RSS reduction", Spec: "15-25%", Low: 15, High: 25, Measured: sum.RSSReduction, Unit: "%", Source: source},
		{What: "per-process VMS reduction", Spec: "40-50%", Low: 40, High: 50, Measured: sum.VMSReduction, Unit: "%", Source: source},
		{What: "RSS saved, 100 processes", Spec: "about 10 MB", Low: lo(10), High: hi(10), Measured: perHundred(red.SavedRSS), Unit: "MiB", Source: sumSource},
		{What: "VMS saved, 100 processes", Spec: "about 70 MB", Low: lo(70), High: hi(70), Measured: perHundred(red.SavedVMS), Unit: "MiB", Source: sumSource},
		{What: "RSS per connection", Spec: "about 25 KB", Low: lo(25), High: hi(25), Measured: sum.PerConnKiB, Unit: "KiB", Source: "plain connection sweep, slope over steps > 0"},
		{What: "extra RSS per TLS connection", Spec: "about 15 KB", Low: lo(15), High: hi(15), Measured: sum.TLSExtraKiB, Unit: "KiB", Source: "TLS minus plain sweep slopes"},
		{What: "RSS per pool slot", Spec: "about 2 KB", Low: lo(2), High: hi(2), Measured: slot, Unit: "KiB", Source: "pool-slot sweep slope"},
	}
}

// LastLine is the machine-readable summary line.
func (r *Result) LastLine() string {
	s := r.Summary()
	return fmt.Sprintf("memtable: rss_reduction=%.1f%% vms_reduction=%.1f%% per_conn_kib=%.1f tls_extra_kib=%.1f",
		s.RSSReduction, s.VMSReduction, s.PerConnKiB, s.TLSExtraKiB)
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// Report prints the tables, the claims and, last, LastLine.
func (r *Result) Report(w io.Writer) error {
	var b strings.Builder
	c, wl := r.Config, r.Config.Workload
	fmt.Fprintf(&b, "memtable: poolscope memory table\n")
	fmt.Fprintf(&b, "machine: %s\n", r.Machine)
	fmt.Fprintf(&b, "load average (1/5/15 min): %s at start, %s at the end; other work was running on the machine\n", r.Machine.LoadAtStart, r.Machine.LoadAtFinish)
	fmt.Fprintf(&b, "workload per worker: K=%d master clients x %d goroutines, %d rounds of SET+GET (%d-byte values)", wl.Clients, wl.Goroutines, wl.Rounds, wl.ValueSize)
	if wl.PipelineEvery > 0 {
		fmt.Fprintf(&b, ", a 3-command pipeline every %d rounds", wl.PipelineEvery)
	}
	fmt.Fprintf(&b, "; sampled after the workload, connections held\n")
	fmt.Fprintf(&b, "pools off: every REDIS_*_POOL_ENABLED=0 with K legacy clients (each of the K its own go-redis client, defaults); on: every flag 1, default sizes (master 10)\n")
	fmt.Fprintf(&b, "samples: poolscope agent (statm RSS/VMS, smaps_rollup PSS, CLIENT LIST per client name); elapsed %s\n", r.Elapsed.Round(time.Second))

	b.WriteString("\nRuns (per worker: median, pipeline conns the mean of the workers' own counts; all workers: sum)\n")
	tw := tabwriter.NewWriter(&b, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tN\tpools\tconns/worker\tof which pipeline\tRSS MiB\tVMS MiB\tPSS MiB\tsum RSS MiB\tsum VMS MiB\tsum PSS MiB\tserver conns\tcommands\terrors\tunsettled\tsteady after s\t")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%d\t%d\t%.1f\t\n",
			run.Transport, run.Workers, onOff(run.Pools), median(field(run.Samples, serverConns)), float64(run.PipelineConns)/float64(max(run.Workers, 1)),
			median(field(run.Samples, rss))/mib, median(field(run.Samples, vms))/mib, median(field(run.Samples, pss))/mib,
			sum(field(run.Samples, rss))/mib, sum(field(run.Samples, vms))/mib, sum(field(run.Samples, pss))/mib,
			sum(field(run.Samples, serverConns)), run.Commands, run.Errors, run.Unsettled, run.Elapsed.Seconds())
	}
	_ = tw.Flush()

	b.WriteString("\nReductions, pools on vs off (per-worker medians; saved = sum off - sum on)\n")
	tw = tabwriter.NewWriter(&b, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tN\tconns off\tconns on\tRSS %\tVMS %\tPSS %\tsaved RSS MiB\tsaved VMS MiB\tsaved PSS MiB\t")
	for _, red := range r.Reductions() {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", red.Transport, red.Workers, red.ConnsOff, red.ConnsOn,
			red.RSSPct, red.VMSPct, red.PSSPct, red.SavedRSS/mib, red.SavedVMS/mib, red.SavedPSS/mib)
	}
	_ = tw.Flush()

	b.WriteString("\nSweeps (one process each, sampled after a GC that returns freed memory to the kernel)\n")
	tw = tabwriter.NewWriter(&b, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sweep\tx\tRSS KiB\tVMS KiB\tPSS KiB\tGo heap KiB\tserver conns\t")
	for _, t := range []string{Plain, TLS} {
		for _, p := range r.ConnSweep[t] {
			fmt.Fprintf(tw, "%s conns\t%d\t%d\t%d\t%d\t%d\t%d\t\n", t, p.X, p.Sample.RSS/kib, p.Sample.VMS/kib, p.Sample.PSS/kib, p.HeapInuse/kib, p.Sample.ServerConns)
		}
	}
	for _, p := range r.SlotSweep {
		fmt.Fprintf(tw, "pool slots (%d clients)\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.SlotClients, p.X, p.Sample.RSS/kib, p.Sample.VMS/kib, p.Sample.PSS/kib, p.HeapInuse/kib, p.Sample.ServerConns)
	}
	for _, p := range r.SlotSweepMaintOff {
		fmt.Fprintf(tw, "pool slots, maint. notif. off\t%d\t%d\t%d\t%d\t%d\t%d\t\n", p.X, p.Sample.RSS/kib, p.Sample.VMS/kib, p.Sample.PSS/kib, p.HeapInuse/kib, p.Sample.ServerConns)
	}
	_ = tw.Flush()

	b.WriteString("\nMarginal costs (least-squares slope of RSS)\n")
	tw = tabwriter.NewWriter(&b, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tfrom\tKiB\tpoints\tr2")
	fitRow := func(what, from string, f Fit, ok bool) {
		if !ok {
			fmt.Fprintf(tw, "%s\t%s\tn/a\t%d\t\n", what, from, f.Points)
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%.3f\n", what, from, f.Slope/kib, f.Points, f.R2)
	}
	pf, pok := r.ConnFit(Plain)
	fitRow("RSS per connection, plain", "connection sweep, steps > 0", pf, pok)
	tf, tok := r.ConnFit(TLS)
	if len(r.ConnSweep[TLS]) > 0 {
		fitRow("RSS per connection, tls", "connection sweep, steps > 0", tf, tok)
		if pok && tok {
			fmt.Fprintf(tw, "extra per TLS connection\tTLS minus plain, steps > 0\t%.2f\t\t\n", (tf.Slope-pf.Slope)/kib)
		}
	}
	for _, t := range []string{Plain, TLS} {
		if len(r.ConnSweep[t]) > 0 {
			f, ok := r.ConnFitAll(t)
			fitRow("RSS per connection, "+t, "connection sweep, all steps", f, ok)
		}
	}
	for _, t := range []string{Plain, TLS} {
		if f, ok := r.WorkerFit(t); ok {
			fitRow("RSS per connection, "+t, "every worker of the runs", f, ok)
		}
	}
	sf, sok := r.SlotFit()
	fitRow("RSS per pool slot", "pool-slot sweep", sf, sok)
	if len(r.SlotSweepMaintOff) > 0 {
		mf, mok := r.SlotFitMaintOff()
		fitRow("RSS per pool slot", "pool-slot sweep, maint. notif. off", mf, mok)
	}
	_ = tw.Flush()

	b.WriteString("\nThe specification's claims (KB read as KiB, MB as MiB; \"about X\" agrees from X/1.5 to 1.5X)\n")
	tw = tabwriter.NewWriter(&b, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "claim\tspecification\tmeasured\tverdict\tmeasured from")
	for _, cl := range r.Claims() {
		fmt.Fprintf(tw, "%s\t%s\t%.1f %s\t%s\t%s\n", cl.What, cl.Spec, cl.Measured, cl.Unit, cl.Verdict(), cl.Source)
	}
	_ = tw.Flush()

	b.WriteString("\n" + r.LastLine() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}
