package advise

import (
	"math"
	"strings"
	"testing"
)

// linearProcess is a process whose RSS is base plus perConn per open
// connection, at connections from, from+by, ... (n steps), plus noise(i).
func linearProcess(n int, from, by, base, perConn float64, noise func(i int) float64) ProcessMemory {
	var p ProcessMemory
	for i := range n {
		c := from + by*float64(i)
		p.Connections = append(p.Connections, c)
		p.Resident = append(p.Resident, base+perConn*c+noise(i))
	}
	return p
}

func noNoise(int) float64 { return 0 }

// alternating adds +a and -a on alternate steps.
func alternating(a float64) func(int) float64 {
	return func(i int) float64 { return a * float64(1-2*(i%2)) }
}

func TestEstimateMemoryPerConnection(t *testing.T) {
	const memtable = 20 << 10
	for name, tc := range map[string]struct {
		procs    []ProcessMemory
		measured bool
		bytes    float64
		reason   string
	}{
		// Two processes with heaps 30 MB apart: the slope within each is
		// exactly 24 KiB; across them (one line through all 20 points)
		// it would be about 1.2 MB per connection.
		"two processes, exact": {
			procs: []ProcessMemory{
				linearProcess(10, 10, 1, 50e6, 24<<10, noNoise),
				linearProcess(10, 30, 2, 80e6, 24<<10, noNoise),
			},
			measured: true, bytes: 24 << 10,
			reason: "measured: RSS over open connections within 2 process(es), 20 samples",
		},
		// Noise of ±4 KiB around a 30 KiB slope over connections 0..39:
		// the fit is still well within 25%.
		"noisy but clear": {
			procs:    []ProcessMemory{linearProcess(40, 0, 1, 60e6, 30<<10, alternating(4<<10))},
			measured: true, bytes: 30 << 10,
		},
		"no processes": {reason: "no process of the service has both an RSS and a connection count"},
		"no RSS": {
			procs:  []ProcessMemory{{Connections: []float64{1, 2, 3}, Resident: []float64{math.NaN(), math.NaN(), math.NaN()}}},
			reason: "no process of the service has both an RSS and a connection count",
		},
		"too few samples": {
			procs:  []ProcessMemory{linearProcess(5, 0, 5, 50e6, 20<<10, noNoise)},
			reason: "5 sample(s) of RSS and connections over 1 process(es), need 10",
		},
		"no spread": {
			procs:  []ProcessMemory{linearProcess(30, 9, 0, 50e6, 20<<10, alternating(1<<20))},
			reason: "open connections hardly changed within the processes (spread 0.00, need 1)",
		},
		"negative slope": {
			procs:  []ProcessMemory{linearProcess(20, 10, 1, 50e6, -(64 << 10), noNoise)},
			reason: "-64 KiB ± 0 KiB per connection, outside 1 KiB to 1.0 MiB",
		},
		"absurd slope": {
			procs:  []ProcessMemory{linearProcess(20, 10, 1, 50e6, 10<<20, noNoise)},
			reason: "10.0 MiB ± 0 KiB per connection, outside 1 KiB to 1.0 MiB",
		},
		// ±8 MiB of GC noise against 20 KiB a connection over 20 steps.
		"too uncertain": {
			procs:  []ProcessMemory{linearProcess(20, 10, 1, 50e6, 20<<10, alternating(8<<20))},
			reason: "too uncertain (more than 25%)",
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := EstimateMemoryPerConnection("checkout", tc.procs, memtable, "make memtable")
			if e.Measured != tc.measured || e.Service != "checkout" {
				t.Fatalf("measured %v, want %v: %s", e.Measured, tc.measured, e.Reason)
			}
			want := tc.bytes
			if !tc.measured {
				want = memtable
				if !strings.HasPrefix(e.Reason, "make memtable: ") {
					t.Errorf("reason %q does not name the fall-back", e.Reason)
				}
			}
			if math.Abs(e.BytesPerConnection-want) > 0.02*want {
				t.Errorf("%.0f bytes per connection, want %.0f: %s", e.BytesPerConnection, want, e.Reason)
			}
			if !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", e.Reason, tc.reason)
			}
		})
	}
}

// Steps where either figure is missing are left out, not counted as zero.
func TestEstimateMemorySkipsGaps(t *testing.T) {
	p := linearProcess(12, 0, 1, 50e6, 20<<10, noNoise)
	p.Resident[3], p.Connections[7] = math.NaN(), math.NaN()
	e := EstimateMemoryPerConnection("checkout", []ProcessMemory{p}, 1, "fallback")
	if !e.Measured || e.Samples != 10 || math.Abs(e.BytesPerConnection-20<<10) > 1e-6 {
		t.Errorf("%+v, want 20 KiB measured over 10 samples", e)
	}
}

// Advise's report is complete for any caller: the costs use the estimate
// given with WithMemory, and Report.Memory has one entry per service, the
// estimate given or the pools' own figure.
func TestAdviseWithMemory(t *testing.T) {
	grow := with(pool(2, steady(20, iv(2, 5.6, 0.0002))), func(p *Pool) { p.PeakDemand, p.WaitP99 = 8, 0.001 })
	other := with(grow, func(p *Pool) { p.Service = "reports" })
	measured := MemoryEstimate{Service: "checkout", BytesPerConnection: 100 << 10, Measured: true, Reason: "measured: test"}
	r, err := Advise([]Pool{grow, other}, nil, WithMemory(measured))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Memory) != 2 || r.Memory[0] != measured || r.Memory[1].Service != "reports" ||
		r.Memory[1].BytesPerConnection != 20<<10 || r.Memory[1].Measured || !strings.Contains(r.Memory[1].Reason, "as given") {
		t.Errorf("memory %+v, want checkout's estimate and reports' own 20 KiB", r.Memory)
	}
	for _, a := range r.Pools {
		want := map[string]float64{"checkout": 100 << 10, "reports": 20 << 10}[a.Service] * a.DeltaConnectionsService
		if a.DeltaConnectionsService != 6 || a.DeltaMemoryService != want {
			t.Errorf("%s: %+.0f connections, %+.0f bytes; want +6 at its memory per connection (%+.0f)", a.Service,
				a.DeltaConnectionsService, a.DeltaMemoryService, want)
		}
	}
	if grow.MemoryPerConnection != 20<<10 {
		t.Error("Advise changed the caller's pool")
	}
}
