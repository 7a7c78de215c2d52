package memtable

import (
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 {
		t.Errorf("median sorted its input in place: %v", in)
	}
}

func TestReductionPct(t *testing.T) {
	if got := reductionPct(200, 150); got != 25 {
		t.Errorf("reductionPct(200, 150) = %v, want 25", got)
	}
	if got := reductionPct(100, 120); got != -20 {
		t.Errorf("reductionPct(100, 120) = %v, want -20", got)
	}
	if got := reductionPct(0, 1); !math.IsNaN(got) {
		t.Errorf("reductionPct(0, 1) = %v, want NaN", got)
	}
}

func TestFitLine(t *testing.T) {
	f, ok := fitLine([]float64{0, 10, 50, 100}, []float64{1000, 1250, 2250, 3500})
	if !ok || math.Abs(f.Slope-25) > 1e-9 || math.Abs(f.Intercept-1000) > 1e-9 || math.Abs(f.R2-1) > 1e-9 || f.Points != 4 {
		t.Errorf("exact line: %+v, ok %v; want slope 25, intercept 1000, r2 1", f, ok)
	}
	// Noisy points: the slope of y = 2x + e with symmetric e is 2.
	f, ok = fitLine([]float64{1, 1, 2, 2, 3, 3}, []float64{1, 3, 3, 5, 5, 7})
	if !ok || math.Abs(f.Slope-2) > 1e-9 || f.R2 >= 1 || f.R2 <= 0.5 {
		t.Errorf("noisy line: %+v, ok %v; want slope 2, 0.5 < r2 < 1", f, ok)
	}
	for _, x := range [][]float64{nil, {1}, {2, 2, 2}} {
		y := make([]float64, len(x))
		if _, ok := fitLine(x, y); ok {
			t.Errorf("fitLine(%v) ok, want no slope", x)
		}
	}
}

func TestClaimVerdict(t *testing.T) {
	lo, hi := about(10)
	for _, tc := range []struct {
		measured float64
		want     string
	}{
		{10, "agrees"}, {lo, "agrees"}, {hi, "agrees"},
		{lo - 0.01, "differs: lower"}, {hi + 0.01, "differs: higher"}, {math.NaN(), "not measured"},
	} {
		c := Claim{Low: lo, High: hi, Measured: tc.measured}
		if got := c.Verdict(); got != tc.want {
			t.Errorf("about 10, measured %v: %q, want %q", tc.measured, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	if err := QuickConfig().Validate(); err != nil {
		t.Fatalf("QuickConfig: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no workers", func(c *Config) { c.Workers = nil }, "-n: no worker counts"},
		{"zero workers", func(c *Config) { c.Workers = []int{10, 0} }, `-n="0"`},
		{"too many workers", func(c *Config) { c.Workers = []int{501} }, `-n="501"`},
		{"no clients", func(c *Config) { c.Workload.Clients = 0 }, `-k="0"`},
		{"goroutines", func(c *Config) { c.Workload.Goroutines = -1 }, `-goroutines="-1"`},
		{"rounds", func(c *Config) { c.Workload.Rounds = 0 }, `-rounds="0"`},
		{"pipeline", func(c *Config) { c.Workload.PipelineEvery = -2 }, `-pipeline-every="-2"`},
		{"value size", func(c *Config) { c.Workload.ValueSize = 0 }, `-value-size="0"`},
		{"one conn step", func(c *Config) { c.ConnSteps = []int{10} }, `-conn-steps="10": want at least two`},
		{"negative conn step", func(c *Config) { c.ConnSteps = []int{0, -5} }, `-conn-steps="0,-5"`},
		{"slot step", func(c *Config) { c.SlotSteps = []int{0, 10} }, `-slot-steps="0,10"`},
		{"slot clients", func(c *Config) { c.SlotClients = 0 }, `-slot-clients="0"`},
		{"parallel", func(c *Config) { c.Parallel = 0 }, `-parallel="0"`},
		{"timeout", func(c *Config) { c.StepTimeout = 0 }, `-step-timeout="0s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "memtable: ") {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Every problem is reported at once.
	c := DefaultConfig()
	c.Workload.Clients, c.Workload.Rounds = 0, 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "-k=") || !strings.Contains(err.Error(), "-rounds=") {
		t.Fatalf("Validate = %v, want both -k and -rounds", err)
	}
}

func TestParseInts(t *testing.T) {
	got, err := ParseInts("-n", "10, 50,100")
	if err != nil || len(got) != 3 || got[0] != 10 || got[1] != 50 || got[2] != 100 {
		t.Fatalf("ParseInts = %v, %v", got, err)
	}
	for _, in := range []string{"", "10,", "ten", "1.5"} {
		_, err := ParseInts("-n", in)
		if err == nil || !strings.Contains(err.Error(), `memtable: -n="`+in+`"`) {
			t.Errorf("ParseInts(%q) = %v, want an error naming -n and the value", in, err)
		}
	}
}

func TestWorkerMainUnknownKind(t *testing.T) {
	t.Setenv(envWorker, "bogus")
	code, ok := WorkerMain()
	if !ok || code != 1 {
		t.Fatalf("WorkerMain with %s=bogus = %d, %v; want 1, true", envWorker, code, ok)
	}
}
