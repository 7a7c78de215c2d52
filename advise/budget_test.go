package advise

import (
	"math"
	"strings"
	"testing"
)

// Two services on one server with maxclients 100 (limit 90): checkout's 3
// processes want 40 connections each (the undersized case of
// TestAdvisePool), reports' 2 processes shrink from 50 to 1; each process
// also holds one health-check connection per pool. Before: 3x(10+1) +
// 2x(50+1) = 135. Uncapped after: 3x45 + 2x2 = 139, 49 over the limit:
// checkout gives back ceil(49/3) = 17 per process, to 27: 3x28 + 4 = 88.
func TestBudgetCapsGrowth(t *testing.T) {
	checkout := with(pool(10, steady(20, iv(10, 30, 0.0002))), func(p *Pool) {
		p.Processes, p.PeakDemand, p.Extra = 3, 40, 1
	})
	reports := with(pool(50, steady(20, iv(0.5, 0, 0.0001))), func(p *Pool) {
		p.Service, p.Processes, p.PeakDemand, p.Extra = "reports", 2, 3, 1
	})
	r, err := Advise([]Pool{reports, checkout}, []Server{{Address: "10.0.0.5:6379", MaxClients: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Servers) != 1 {
		t.Fatalf("%d servers, want 1", len(r.Servers))
	}
	b := r.Servers[0]
	if b.Before != 135 || b.After != 88 || b.Limit != 90 || !b.Fits {
		t.Errorf("budget %+v, want before 135 after 88 limit 90 fits", b)
	}
	if got := strings.Join(b.Pools, ","); got != "checkout/master,reports/master" {
		t.Errorf("pools %s", got)
	}
	c := r.Pools[0] // sorted: checkout first
	if c.Service != "checkout" || c.Verdict != Grow || c.Recommended != 27 || !c.CappedByServer || c.ModelSize != 40 {
		t.Fatalf("checkout: %s %d capped %v model %d", c.Verdict, c.Recommended, c.CappedByServer, c.ModelSize)
	}
	if !strings.Contains(c.Reason, "capped at 27") {
		t.Errorf("reason %q does not say it was capped", c.Reason)
	}
	expectFloat(t, "checkout connections per process", c.DeltaConnectionsPerProcess, 17)
	if c.ExpectedWaitP99 <= 0 || math.IsNaN(c.ExpectedWaitP99) {
		// 27 connections for 40 callers: M/M/c at a = 40 cannot keep up.
		if !math.IsInf(c.ExpectedWaitP99, 1) {
			t.Errorf("expected wait %v at 27 for a load of 40", c.ExpectedWaitP99)
		}
	}
	if rp := r.Pools[1]; rp.Verdict != Shrink || rp.Recommended != 1 || rp.CappedByServer {
		t.Errorf("reports: %s %d capped %v", rp.Verdict, rp.Recommended, rp.CappedByServer)
	}
}

func TestBudgetCases(t *testing.T) {
	keep := with(pool(10, steady(20, iv(6, 0, 0.001))), func(p *Pool) { p.Processes = 10 })
	grow := with(pool(10, steady(20, iv(10, 30, 0.0002))), func(p *Pool) { p.PeakDemand = 40 })
	for _, tc := range []struct {
		name    string
		pools   []Pool
		servers []Server
		want    ServerBudget
		note    string
	}{
		{"maxclients unknown", []Pool{keep}, nil,
			ServerBudget{Server: "10.0.0.5:6379", Before: 100, After: 100}, "maxclients unknown"},
		{"maxclients zero", []Pool{keep}, []Server{{"10.0.0.5:6379", 0}},
			ServerBudget{Server: "10.0.0.5:6379", Before: 100, After: 100}, "maxclients unknown"},
		{"maxclients negative", []Pool{keep}, []Server{{"10.0.0.5:6379", -5}},
			ServerBudget{Server: "10.0.0.5:6379", Before: 100, After: 100}, "maxclients unknown"},
		{"over budget without growth", []Pool{keep}, []Server{{"10.0.0.5:6379", 50}},
			ServerBudget{Server: "10.0.0.5:6379", MaxClients: 50, Limit: 45, Before: 100, After: 100}, "even without growth the fleet may open 100 connections, above 45"},
		{"growth taken back entirely", []Pool{keep, grow}, []Server{{"10.0.0.5:6379", 120}},
			ServerBudget{Server: "10.0.0.5:6379", MaxClients: 120, Limit: 108, Before: 110, After: 110}, "even without growth"},
		{"growth fits", []Pool{grow}, []Server{{"10.0.0.5:6379", 10000}},
			ServerBudget{Server: "10.0.0.5:6379", MaxClients: 10000, Limit: 9000, Before: 10, After: 40, Fits: true}, ""},
		{"server without pools", nil, []Server{{"10.0.0.9:6379", 100}},
			ServerBudget{Server: "10.0.0.9:6379", MaxClients: 100, Limit: 90, Fits: true}, "no pool seen"},
		{"pool without a server is left out", []Pool{with(keep, func(p *Pool) { p.Server = "" })}, nil, ServerBudget{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Advise(tc.pools, tc.servers)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Server == "" {
				if len(r.Servers) != 0 {
					t.Fatalf("budgets %+v, want none", r.Servers)
				}
				return
			}
			if len(r.Servers) != 1 {
				t.Fatalf("budgets %+v, want one", r.Servers)
			}
			b := r.Servers[0]
			if b.Server != tc.want.Server || b.MaxClients != tc.want.MaxClients || b.Limit != tc.want.Limit ||
				b.Before != tc.want.Before || b.After != tc.want.After || b.Fits != tc.want.Fits {
				t.Errorf("budget %+v, want %+v", b, tc.want)
			}
			if !strings.Contains(b.Note, tc.note) {
				t.Errorf("note %q lacks %q", b.Note, tc.note)
			}
			for _, a := range r.Pools {
				if a.CappedByServer && a.Recommended == a.Current && a.Verdict != Keep {
					t.Errorf("%s capped to its size but verdict %s", a.Pool, a.Verdict)
				}
			}
		})
	}
}

// A pool sized by the closed model (8 callers in a tight loop on 2
// connections, as in the e2e closed loop) and capped by the budget gets the
// closed model's wait at the capped size: finite, since 8 callers cannot
// queue without end, and longer the fewer connections it keeps.
func TestBudgetCappedWaitFromTheSizingModel(t *testing.T) {
	p := with(pool(2, steady(20, iv(2, 5.6, 0.0002))), func(p *Pool) { p.PeakDemand, p.WaitP99 = 8, 0.001 })
	wait := map[int]float64{}
	// maxclients 6: limit 5, growth capped at 5; maxclients 2: limit 1,
	// below the budget of 2 without growth: kept at 2.
	for maxClients, size := range map[int]int{6: 5, 2: 2} {
		r, err := Advise([]Pool{p}, []Server{{Address: p.Server, MaxClients: maxClients}})
		if err != nil {
			t.Fatal(err)
		}
		a := r.Pools[0]
		if !a.CappedByServer || a.Recommended != size {
			t.Fatalf("maxclients %d: %s %d capped %v, want capped at %d", maxClients, a.Verdict, a.Recommended, a.CappedByServer, size)
		}
		if !(a.ExpectedWaitP99 > 0 && a.ExpectedWaitP99 < 1) {
			t.Errorf("maxclients %d: expected wait p99 %v at %d connections for 8 callers, want a finite figure", maxClients, a.ExpectedWaitP99, size)
		}
		wait[size] = a.ExpectedWaitP99
	}
	if !(wait[2] > wait[5]) {
		t.Errorf("expected wait p99 %v at 2 connections, %v at 5: want it longer with fewer", wait[2], wait[5])
	}
}

// TestBudgetCappedBurstsWaitUnknown: a pool grown for bursts (the model
// said the load fits it) and capped by the budget gets no expected wait:
// the model's would be 0, which the waits seen disprove.
func TestBudgetCappedBurstsWaitUnknown(t *testing.T) {
	bursty := with(pool(10, steady(20, iv(0.5, 0.01, 0.0001))), func(p *Pool) { p.WaitP99, p.PeakDemand = 0.02, 30 })
	r, err := Advise([]Pool{bursty}, []Server{{Address: bursty.Server, MaxClients: 25}})
	if err != nil {
		t.Fatal(err)
	}
	a := r.Pools[0]
	if !a.CappedByServer || a.Recommended <= 10 || a.Recommended >= 33 {
		t.Fatalf("%s %d capped %v, want grown from 10 and capped below 33", a.Verdict, a.Recommended, a.CappedByServer)
	}
	if !math.IsNaN(a.ExpectedWaitP99) {
		t.Errorf("expected wait p99 %v at the capped size, want unknown (NaN)", a.ExpectedWaitP99)
	}
}
