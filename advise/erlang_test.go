package advise

import (
	"math"
	"testing"
)

// Hand-computed Erlang values: M/M/1 waits with probability rho; M/M/2 at
// a = 1 with probability 1/3; the p99 wait follows from
// S·ln(C/0.01)/(c-a).
func TestErlangHandComputed(t *testing.T) {
	for _, tc := range []struct {
		name          string
		c             int
		a, hold       float64
		probWait, p99 float64
	}{
		{"M/M/1 at rho 0.5", 1, 0.5, 1, 0.5, 2 * math.Log(50)},
		{"M/M/2 at a 1", 2, 1, 1, 1.0 / 3, math.Log(100.0 / 3)},
		// B(3,1) = 1/16, C = (3/16) / (3 - 15/16) = 1/11.
		{"M/M/3 at a 1", 3, 1, 0.002, 1.0 / 11, 0.002 * math.Log(100.0/11) / 2},
		// B(4,1) = 1/65, C = (4/65) / (4 - 64/65) = 4/196 = 1/49.
		{"M/M/4 at a 1", 4, 1, 0.001, 1.0 / 49, 0.001 * math.Log(100.0/49) / 3},
		// C(5,1) < 0.01: p99 is no wait at all.
		{"M/M/5 at a 1", 5, 1, 1, 0.0038, 0},
		{"overloaded", 2, 2, 1, 1, math.Inf(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newErlang(tc.a)
			for e.c < tc.c {
				e.next()
			}
			if got := e.probWait(); math.Abs(got-tc.probWait) > 1e-4 {
				t.Errorf("P(wait) = %v, want %v", got, tc.probWait)
			}
			if got := e.waitQuantile(0.99, tc.hold); !(got == tc.p99 || math.Abs(got-tc.p99) < 1e-12) {
				t.Errorf("p99 wait = %v, want %v", got, tc.p99)
			}
		})
	}
}

// With a = 1 and a 1 ms hold, the p99 wait is 3.5 ms at 2, 1.10 ms at 3
// and 0.24 ms at 4 (above): a 1 ms target needs 4, a 2 ms target 3.
func TestSizeForWait(t *testing.T) {
	for _, tc := range []struct {
		target float64
		want   int
		ok     bool
	}{{0.001, 4, true}, {0.002, 3, true}, {0.004, 2, true}, {1e-9, 5, true}} {
		got, _, ok := sizeForWait(1, 0.001, 0.99, tc.target, MaxPoolSize)
		if got != tc.want || ok != tc.ok {
			t.Errorf("target %v: size %d ok %v, want %d %v", tc.target, got, ok, tc.want, tc.ok)
		}
	}
	if got, _, ok := sizeForWait(20000, 0.001, 0.99, 0.001, MaxPoolSize); ok || got != MaxPoolSize {
		t.Errorf("a load above the cap: size %d ok %v, want %d false", got, ok, MaxPoolSize)
	}
}

// A large load keeps Erlang B finite: the recurrence never overflows.
func TestErlangLargeLoad(t *testing.T) {
	size, wait, ok := sizeForWait(5000, 0.0002, 0.99, 0.001, MaxPoolSize)
	if !ok || size <= 5000 || size > 5300 || math.IsNaN(wait) {
		t.Fatalf("a = 5000: size %d wait %v ok %v", size, wait, ok)
	}
}
