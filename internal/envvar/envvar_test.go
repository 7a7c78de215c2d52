package envvar

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestEveryProblemAtOnce: every kind of value, each bad, gives one line per
// problem naming the variable and the value, and never a password.
func TestEveryProblemAtOnce(t *testing.T) {
	kind := errors.New("invalid configuration")
	r := New("pkg", lookup(map[string]string{
		"F": "yes", "I": "0", "D": "5", "U": "redis://:s3cret@h:0/0", "A1": "redis://:s3cret@a:1", "A2": "redis://:s3cret@b:1", "M": "-1",
	}), Wrapping(kind))
	var b bool
	var n int
	var d time.Duration
	var u string
	r.Flag(&b, "F")
	r.Int(&n, 1, 10, "I")
	r.Duration(&d, false, "D")
	r.URL(&u, "U")
	r.First("A1", "A2")
	r.Milliseconds("M", "-1")
	r.FailHidden("H", "entry 1 is not key=value")
	r.FailOption("WithX", "v", "bad")
	err := r.Err()
	want := []string{
		`pkg: F="yes": not a flag`,
		`pkg: I="0": out of range (want 1 to 10)`,
		`pkg: D="5": not a duration`,
		`pkg: U="redis://***@h:0/0": port "0" out of range`,
		`pkg: A1="redis://***@a:1" and A2="redis://***@b:1" disagree`,
		`pkg: M="-1": not a positive whole number of milliseconds`,
		`pkg: H: entry 1 is not key=value`,
		`pkg: WithX("v"): bad`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a password is shown:\n%v", err)
	}
	if !errors.Is(err, kind) {
		t.Error("errors do not wrap the kind")
	}
}

func TestBlankIsUnset(t *testing.T) {
	m := map[string]string{"E": "", "S": "   ", "V": " x "}
	r := New("pkg", lookup(m), BlankIsUnset())
	for k, want := range map[string]bool{"E": false, "S": false, "V": true, "X": false} {
		if _, ok := r.Lookup(k); ok != want {
			t.Errorf("Lookup(%s) set = %v, want %v", k, ok, want)
		}
	}
	if v, _ := r.Lookup("V"); v != "x" {
		t.Errorf("V = %q, want trimmed", v)
	}
	strict := New("pkg", lookup(m))
	if v, ok := strict.Lookup("E"); !ok || v != "" {
		t.Error("without BlankIsUnset an empty value is a value")
	}
}

func TestDurationBounds(t *testing.T) {
	for v, want := range map[string]string{"0": "", "-1s": "must be 0 (off) or positive", "25h": "longer than 24h", "1ns": "shorter than 1ms", "5m": ""} {
		r := New("pkg", lookup(map[string]string{"D": v}))
		d := time.Second
		r.Duration(&d, true, "D")
		got := ""
		if err := r.Err(); err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("D=%q: %q, want %q", v, got, want)
		}
	}
}
