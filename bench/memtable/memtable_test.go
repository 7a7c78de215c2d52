package memtable

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQuickEndToEnd runs the quick configuration against real
// redis-servers with this test binary as the worker, and checks the
// table's structure and that its numbers are sane and consistent. It does
// not check the specification's claims: on a loaded machine, and under
// the race detector, the figures are not the product's.
func TestQuickEndToEnd(t *testing.T) {
	cfg := QuickConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := Measure(ctx, cfg, &progress)
	if err != nil {
		t.Fatalf("Measure: %v\nprogress:\n%s", err, progress.String())
	}
	var out bytes.Buffer
	if err := res.Report(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Logf("quick table (race detector on: the workers are race-instrumented test binaries):\n%s", text)

	t.Run("structure", func(t *testing.T) {
		for _, want := range []string{
			"memtable: poolscope memory table\n", "\nmachine: ", "redis-server 7", "go1.",
			"\nRuns (per worker", "\nReductions, pools on vs off", "\nSweeps (one process each",
			"\nMarginal costs", "\nThe specification's claims",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("the table has no %q", want)
			}
		}
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		last := lines[len(lines)-1]
		re := regexp.MustCompile(`^memtable: rss_reduction=(-?\d+\.\d)% vms_reduction=(-?\d+\.\d)% per_conn_kib=(-?\d+\.\d) tls_extra_kib=(-?\d+\.\d)$`)
		m := re.FindStringSubmatch(last)
		if m == nil {
			t.Fatalf("last line %q does not match %s", last, re)
		}
		s := res.Summary()
		for i, v := range []float64{s.RSSReduction, s.VMSReduction, s.PerConnKiB, s.TLSExtraKiB} {
			if m[i+1] != strconv.FormatFloat(v, 'f', 1, 64) {
				t.Errorf("last line field %d = %s, Summary has %v", i+1, m[i+1], v)
			}
		}
		claims := 0
		for _, l := range lines {
			for _, v := range []string{"agrees", "differs: lower", "differs: higher"} {
				if strings.Contains(l, "  "+v+"  ") {
					claims++
				}
			}
		}
		if claims != len(res.Claims()) || claims != 7 {
			t.Errorf("%d claim rows with a verdict, want 7 (Claims: %d)", claims, len(res.Claims()))
		}
	})

	t.Run("runs", func(t *testing.T) {
		if len(res.Runs) != 4 {
			t.Fatalf("%d runs, want 4 (plain and tls, pools off and on)", len(res.Runs))
		}
		k := cfg.Workload.Clients
		for _, run := range res.Runs {
			if len(run.Samples) != cfg.Workers[0] {
				t.Errorf("%s pools %s: %d samples, want %d", run.Transport, onOff(run.Pools), len(run.Samples), cfg.Workers[0])
			}
			if run.Commands <= 0 || run.Errors >= run.Commands {
				t.Errorf("%s pools %s: %d commands, %d errors", run.Transport, onOff(run.Pools), run.Commands, run.Errors)
			}
			for _, s := range run.Samples {
				if s.RSS <= 0 || s.VMS < s.RSS || s.PSS <= 0 || s.PSS > s.RSS {
					t.Errorf("%s pools %s pid %d: RSS %d, VMS %d, PSS %d: want 0 < PSS <= RSS <= VMS", run.Transport, onOff(run.Pools), s.Pid, s.RSS, s.VMS, s.PSS)
				}
				// Bounds that hold whatever the scheduling: unpooled, each
				// of the K clients holds at least one connection, plus the
				// four health checks; pooled, the caps (master 10, its
				// pipeline pool 10, async 5, health 4) bound the total.
				lo, hi := int64(k+4), int64(1<<30)
				if run.Pools {
					lo, hi = 4, 10+10+5+4
				}
				if s.ServerConns < lo || s.ServerConns > hi || s.SocketConns < 1 {
					t.Errorf("%s pools %s pid %d: %d server-side connections (want %d to %d), %d sockets", run.Transport, onOff(run.Pools), s.Pid, s.ServerConns, lo, hi, s.SocketConns)
				}
			}
		}
	})

	t.Run("reductions", func(t *testing.T) {
		reds := res.Reductions()
		if len(reds) != 2 {
			t.Fatalf("%d reductions, want 2", len(reds))
		}
		for _, red := range reds {
			var off, on Run
			for _, run := range res.Runs {
				if run.Transport == red.Transport && run.Workers == red.Workers {
					if run.Pools {
						on = run
					} else {
						off = run
					}
				}
			}
			mid := func(run Run, f func(ProcessSample) int64) float64 {
				var v []int64
				for _, s := range run.Samples {
					v = append(v, f(s))
				}
				slices.Sort(v)
				n := len(v)
				if n%2 == 1 {
					return float64(v[n/2])
				}
				return float64(v[n/2-1]+v[n/2]) / 2
			}
			total := func(run Run, f func(ProcessSample) int64) float64 {
				var t int64
				for _, s := range run.Samples {
					t += f(s)
				}
				return float64(t)
			}
			getRSS := func(s ProcessSample) int64 { return s.RSS }
			getVMS := func(s ProcessSample) int64 { return s.VMS }
			getPSS := func(s ProcessSample) int64 { return s.PSS }
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"RSS %", red.RSSPct, 100 * (mid(off, getRSS) - mid(on, getRSS)) / mid(off, getRSS)},
				{"VMS %", red.VMSPct, 100 * (mid(off, getVMS) - mid(on, getVMS)) / mid(off, getVMS)},
				{"PSS %", red.PSSPct, 100 * (mid(off, getPSS) - mid(on, getPSS)) / mid(off, getPSS)},
				{"saved RSS", red.SavedRSS, total(off, getRSS) - total(on, getRSS)},
				{"saved VMS", red.SavedVMS, total(off, getVMS) - total(on, getVMS)},
				{"saved PSS", red.SavedPSS, total(off, getPSS) - total(on, getPSS)},
			} {
				if math.IsNaN(c.got) || math.Abs(c.got-c.want) > 1e-6*math.Max(1, math.Abs(c.want)) {
					t.Errorf("%s N=%d %s = %v, want %v", red.Transport, red.Workers, c.name, c.got, c.want)
				}
			}
		}
		if h, _ := res.headline(); res.Summary().RSSReduction != h.RSSPct || h.Transport != Plain {
			t.Errorf("Summary RSS reduction %v is not the plain reduction %+v", res.Summary().RSSReduction, h)
		}
	})

	t.Run("sweeps", func(t *testing.T) {
		for _, tr := range []string{Plain, TLS} {
			pts := res.ConnSweep[tr]
			if len(pts) != len(cfg.ConnSteps) {
				t.Fatalf("%s connection sweep: %d points, want %d", tr, len(pts), len(cfg.ConnSteps))
			}
			for i, p := range pts {
				if p.X != cfg.ConnSteps[i] || p.Sample.ServerConns != int64(p.X) || p.Sample.RSS <= 0 {
					t.Errorf("%s connection sweep step %d: x %d, server conns %d, RSS %d", tr, cfg.ConnSteps[i], p.X, p.Sample.ServerConns, p.Sample.RSS)
				}
			}
		}
		for i, p := range res.SlotSweep {
			if p.X != cfg.SlotClients*cfg.SlotSteps[i] || p.Sample.ServerConns != 0 {
				t.Errorf("slot sweep step %d: x %d, server conns %d", cfg.SlotSteps[i], p.X, p.Sample.ServerConns)
			}
		}
		if len(res.SlotSweepMaintOff) != len(cfg.SlotSteps) {
			t.Errorf("slot sweep with maintenance notifications off: %d points, want %d", len(res.SlotSweepMaintOff), len(cfg.SlotSteps))
		}
		for i, p := range res.SlotSweepMaintOff {
			if p.X != cfg.SlotClients*cfg.SlotSteps[i] || p.Sample.ServerConns != 0 {
				t.Errorf("slot sweep (maint off) step %d: x %d, server conns %d", cfg.SlotSteps[i], p.X, p.Sample.ServerConns)
			}
		}
		s := res.Summary()
		if !(s.PerConnKiB > 0) || math.IsInf(s.PerConnKiB, 0) || math.IsNaN(s.TLSExtraKiB) || math.IsInf(s.TLSExtraKiB, 0) {
			t.Errorf("per connection %v KiB, TLS extra %v KiB: want a positive and a finite number", s.PerConnKiB, s.TLSExtraKiB)
		}
		if f, ok := res.SlotFit(); !ok || math.IsNaN(f.Slope) {
			t.Errorf("no pool-slot slope: %+v", f)
		}
	})
}

// TestMeasureRejectsBadConfig checks that Measure validates before it
// starts anything.
func TestMeasureRejectsBadConfig(t *testing.T) {
	cfg := QuickConfig()
	cfg.Workers = []int{0}
	if _, err := Measure(context.Background(), cfg, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `-n="0"`) {
		t.Fatalf("Measure = %v, want the -n error", err)
	}
}
