package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// parseFile parses a benchmark output under testdata.
func parseFile(t *testing.T, name string) results {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestReport(t *testing.T) {
	res := parseFile(t, "testdata/bench.txt")
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
	// This older output has no poolscope/nop ratio: it comes from the bare
	// ratios (0.980 / sqrt(0.9861 * 0.980) = 0.997), and no CPU time.
	want := "overhead: poolscope/bare=0.980 redisotel/bare=0.849 poolscope/nop=0.997 poolscope_added_allocs=1 poolscope_added_cpu_ns=n/a"
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

// TestReportCPU reads a real run of the benchmark that reports confidence
// intervals, CPU time per operation and the load average: they show in the
// table, and the summary gains poolscope/nop and the added CPU ns.
func TestReportCPU(t *testing.T) {
	res := parseFile(t, "testdata/overhead-cpu.txt")
	if got := res.ratios["parallel"]["poolscope-added-cpu-ns/op"]; got != 1272 {
		t.Errorf("parallel poolscope-added-cpu-ns/op = %v, want 1272", got)
	}
	if got := res.ratios["sequential"]["poolscope-added-cpu-ns/op"]; got != -520.5 {
		t.Errorf("negative metric parsed as %v, want -520", got)
	}
	var out bytes.Buffer
	if err := report(&out, res); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	// poolscope/nop: sqrt(0.942 * 0.901); added CPU: -520.5 +-2703
	// (sequential) and 1272 +-518.8 (parallel) weighted by 1/ci^2: 1208.
	want := "overhead: poolscope/bare=0.931 redisotel/bare=0.961 poolscope/nop=0.921 poolscope_added_allocs=0 poolscope_added_cpu_ns=1208"
	if got := lines[len(lines)-1]; got != want {
		t.Errorf("last line = %q, want %q\n%s", got, want, text)
	}
	for _, want := range []string{
		"sequential 1.24 -> 1.30, parallel 1.30 -> 1.44",
		"WARNING: load average above 1",
		"poolscope/parallel                9846    101564    513         7     0.888 [0.813, 0.959]     11579      +1272 +-519",
		"poolscope+traces/parallel",
		"poolscope/nop/parallel           0.901 [0.873, 1.009]       +998 +-515",
		// The recorder table reads CPU ns per command, not ns/op.
		"poolscope-producer/parallel               163.4             +152",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}
