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

// TestReportLatency: with BenchmarkLatency's output as well, the latency
// table comes before the summary, which stays the last line.
func TestReportLatency(t *testing.T) {
	var in bytes.Buffer
	for _, name := range []string{"testdata/bench.txt", "testdata/latency.txt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
	}
	res, err := parse(&in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.latency) != 2 || res.latency["64"]["poolscope-p99-us"] != 11750 || res.latencyRounds != "20" {
		t.Fatalf("latency parsed as %v (rounds %q)", res.latency, res.latencyRounds)
	}
	var out bytes.Buffer
	if err := report(&out, res); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "overhead: poolscope/bare=0.980 ") {
		t.Errorf("last line = %q\n%s", lines[len(lines)-1], text)
	}
	for _, want := range []string{
		"poolscope/callers=1             1      42.0     178.3       7.02            0.915",
		"redisotel/callers=64           64    2695.0    9500.0      11.12            0.894",
		"control/callers=64",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if strings.Index(text, "latency:") > strings.Index(text, "overhead:") {
		t.Errorf("latency table after the summary:\n%s", text)
	}
}
