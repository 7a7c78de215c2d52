package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	f, err := os.Open("testdata/bench.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.getSet) != 6 || res.cpu != "Test CPU" || len(res.ratios) != 2 {
		t.Fatalf("parsed %d cases, %d ratio kinds, cpu %q", len(res.getSet), len(res.ratios), res.cpu)
	}
	var out bytes.Buffer
	if err := report(&out, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// poolscope: sqrt(0.99 * 0.97) = 0.980; redisotel: sqrt(0.9 * 0.8) =
	// 0.849; allocs: poolscope 7 vs bare 7 sequential, 8 vs 7 parallel.
	want := "overhead: poolscope/bare=0.980 redisotel/bare=0.849 poolscope_added_allocs=1"
	if got := lines[len(lines)-1]; got != want {
		t.Errorf("last line = %q, want %q\n%s", got, want, out.String())
	}
	if !strings.Contains(out.String(), "nop-recorder/parallel") {
		t.Errorf("no nop-recorder row:\n%s", out.String())
	}
}

func TestReportNeedsBothBenchmarks(t *testing.T) {
	if err := report(&bytes.Buffer{}, results{}); err == nil {
		t.Fatal("report without results succeeded")
	}
}
