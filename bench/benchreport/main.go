// Command benchreport runs instrument's benchmarks and prints a table and,
// as its last line, the summary `make bench` promises:
//
//	overhead: poolscope/bare=R1 redisotel/bare=R2 poolscope_added_allocs=N
//
// ns/op, B/op and allocs/op come from BenchmarkGetSet (medians over
// -count runs of each case). The ratios come from BenchmarkOverhead, which
// interleaves the modes in short slices within one process and reports the
// median of per-round throughput ratios: on a shared 2-core machine that
// drifts by tens of percent from one second to the next, ratios between
// separate runs say more about the drift than about the code. R1 and R2 are
// the geometric means of the sequential and parallel ratios; N is the
// largest difference in allocs/op between poolscope and bare.
//
// With -latency-bin (the compiled bench/benchtables tests), it also runs
// BenchmarkLatency and prints, before the summary, a second table: p50 and
// p99 latency, allocs/op and the throughput ratio to bare with 1 and 64
// concurrent callers, from interleaved rounds in one process.
//
// Usage:
//
//	go test -c -o instrument.test ./instrument
//	(in bench/) go test -c -o benchtables.test ./benchtables
//	go run ./benchreport -bin ./instrument.test -latency-bin ./benchtables.test
//	go run ./benchreport < bench.txt   # only parse
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

func main() {
	bin := flag.String("bin", "", "compiled instrument test binary; without it, go test -bench output is read from stdin")
	count := flag.Int("count", 3, "runs of each BenchmarkGetSet case")
	benchtime := flag.String("benchtime", "500ms", "-test.benchtime of BenchmarkGetSet")
	rounds := flag.Int("rounds", 150, "interleaved rounds of BenchmarkOverhead")
	latencyBin := flag.String("latency-bin", "", "compiled bench/benchtables test binary: also run BenchmarkLatency (p50/p99, 1 and 64 callers)")
	latencyRounds := flag.Int("latency-rounds", 100, "interleaved rounds of BenchmarkLatency")
	flag.Parse()

	var in io.Reader = os.Stdin
	if *bin != "" {
		out, err := run(*bin,
			[]string{"-test.bench", "^BenchmarkGetSet$", "-test.benchtime", *benchtime, "-test.count", strconv.Itoa(*count)},
			[]string{"-test.bench", "^BenchmarkOverhead$", "-test.benchtime", strconv.Itoa(*rounds) + "x"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		in = out
	}
	if *latencyBin != "" {
		out, err := run(*latencyBin,
			[]string{"-test.bench", "^BenchmarkLatency$", "-test.benchtime", strconv.Itoa(*latencyRounds) + "x"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		in = io.MultiReader(in, out)
	}
	res, err := parse(in)
	if err == nil {
		err = report(os.Stdout, res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// run executes the test binary once per argument list and returns the
// combined output, which it also copies to stderr as it goes.
func run(bin string, argLists ...[]string) (io.Reader, error) {
	var all bytes.Buffer
	for _, args := range argLists {
		cmd := exec.Command(bin, append([]string{"-test.run", "^$"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout = io.MultiWriter(&out, os.Stderr)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
		}
		all.Write(out.Bytes())
	}
	return &all, nil
}

// results are the parsed benchmark lines.
type results struct {
	cpu string
	// getSet holds every BenchmarkGetSet run of a case ("bare/sequential").
	getSet map[string][]getSetRun
	// ratios holds BenchmarkOverhead's metrics by kind and name
	// ("sequential" -> "poolscope/bare" -> 0.98).
	ratios map[string]map[string]float64
	// latency holds BenchmarkLatency's metrics by number of callers and
	// name ("64" -> "poolscope-p99-us" -> 812); latencyRounds its rounds.
	latency       map[string]map[string]float64
	latencyRounds string
}

type getSetRun struct{ nsOp, bOp, allocs float64 }

var (
	getSetRE    = regexp.MustCompile(`^BenchmarkGetSet/([\w-]+/\w+)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)
	overheadRE  = regexp.MustCompile(`^BenchmarkOverhead/(\w+)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op(.*)$`)
	metricRE    = regexp.MustCompile(`([\d.]+) ([\w-]+/bare)`)
	latencyRE   = regexp.MustCompile(`^BenchmarkLatency/callers=(\d+)(?:-\d+)?\s+(\d+)\s+[\d.]+ ns/op(.*)$`)
	anyMetricRE = regexp.MustCompile(`([\d.]+) (\S+)`)
)

func parse(r io.Reader) (results, error) {
	res := results{getSet: map[string][]getSetRun{}, ratios: map[string]map[string]float64{}, latency: map[string]map[string]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			res.cpu = strings.TrimSpace(c)
		}
		if m := getSetRE.FindStringSubmatch(line); m != nil {
			var run getSetRun
			run.nsOp, _ = strconv.ParseFloat(m[2], 64)
			run.bOp, _ = strconv.ParseFloat(m[3], 64)
			run.allocs, _ = strconv.ParseFloat(m[4], 64)
			res.getSet[m[1]] = append(res.getSet[m[1]], run)
		}
		if m := overheadRE.FindStringSubmatch(line); m != nil {
			kind := m[1]
			if res.ratios[kind] == nil {
				res.ratios[kind] = map[string]float64{}
			}
			for _, mm := range metricRE.FindAllStringSubmatch(m[2], -1) {
				v, err := strconv.ParseFloat(mm[1], 64)
				if err != nil {
					return res, fmt.Errorf("%q: %w", line, err)
				}
				res.ratios[kind][mm[2]] = v
			}
		}
		if m := latencyRE.FindStringSubmatch(line); m != nil {
			callers := m[1]
			res.latencyRounds = m[2]
			res.latency[callers] = map[string]float64{}
			for _, mm := range anyMetricRE.FindAllStringSubmatch(m[3], -1) {
				v, err := strconv.ParseFloat(mm[1], 64)
				if err != nil {
					return res, fmt.Errorf("%q: %w", line, err)
				}
				res.latency[callers][mm[2]] = v
			}
		}
	}
	return res, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var kinds = []string{"sequential", "parallel"}

// rows of the table: the modes of BenchmarkGetSet, then the references
// that only BenchmarkOverhead runs.
var rows = []struct{ mode, note string }{
	{"bare", ""},
	{"poolscope", ""},
	{"redisotel", ""},
	{"nop-recorder", "go-redis with a do-nothing recorder"},
	{"control", "bare again: the noise"},
}

// report prints the table and the summary line, the last line.
func report(w io.Writer, res results) error {
	if len(res.getSet) == 0 || len(res.ratios) == 0 {
		return errors.New("need both BenchmarkGetSet and BenchmarkOverhead results")
	}
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s %s/%s\n", runtime.NumCPU(), res.cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "ns/op, B/op, allocs/op: BenchmarkGetSet, median of %d runs; throughput/bare: BenchmarkOverhead, median of interleaved rounds\n\n",
		len(res.getSet["bare/sequential"]))
	fmt.Fprintf(w, "%-24s %10s %9s %7s %10s %16s\n", "case", "ns/op", "ops/s", "B/op", "allocs/op", "throughput/bare")
	allocs := map[string]float64{}
	for _, kind := range kinds {
		for _, row := range rows {
			name := row.mode + "/" + kind
			runs := res.getSet[name]
			ratio, ok := res.ratios[kind][row.mode+"/bare"]
			if len(runs) == 0 && !ok {
				continue
			}
			cols := fmt.Sprintf("%10s %9s %7s %10s", "-", "-", "-", "-")
			if len(runs) > 0 {
				var ns, b, a []float64
				for _, r := range runs {
					ns, b, a = append(ns, r.nsOp), append(b, r.bOp), append(a, r.allocs)
				}
				allocs[name] = median(a)
				cols = fmt.Sprintf("%10.0f %9.0f %7.0f %10.0f", median(ns), 1e9/median(ns), median(b), allocs[name])
			}
			r := "1"
			if row.mode != "bare" {
				r = fmt.Sprintf("%.3f", ratio)
			}
			note := ""
			if row.note != "" {
				note = "  (" + row.note + ")"
			}
			fmt.Fprintf(w, "%-24s %s %16s%s\n", name, cols, r, note)
		}
	}
	geo := func(mode string) float64 {
		p := 1.0
		for _, kind := range kinds {
			p *= res.ratios[kind][mode+"/bare"]
		}
		return math.Pow(p, 1/float64(len(kinds)))
	}
	reportLatency(w, res)
	added := 0.0
	for _, kind := range kinds {
		added = max(added, allocs["poolscope/"+kind]-allocs["bare/"+kind])
	}
	fmt.Fprintf(w, "\noverhead: poolscope/bare=%.3f redisotel/bare=%.3f poolscope_added_allocs=%.0f\n",
		geo("poolscope"), geo("redisotel"), added)
	return nil
}

// latencyModes are BenchmarkLatency's modes, in table order.
var latencyModes = []struct{ mode, note string }{
	{"bare", ""},
	{"poolscope", ""},
	{"redisotel", ""},
	{"control", "bare again: the noise"},
}

// reportLatency prints BenchmarkLatency's table, when it ran.
func reportLatency(w io.Writer, res results) {
	if len(res.latency) == 0 {
		return
	}
	callers := slices.SortedFunc(func(yield func(string) bool) {
		for c := range res.latency {
			if !yield(c) {
				return
			}
		}
	}, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	fmt.Fprintf(w, "\nlatency: BenchmarkLatency, %s interleaved rounds; p50/p99 over every operation of every round, pool wait included\n\n", res.latencyRounds)
	fmt.Fprintf(w, "%-24s %8s %9s %9s %10s %16s\n", "case", "callers", "p50 us", "p99 us", "allocs/op", "throughput/bare")
	for _, c := range callers {
		m := res.latency[c]
		for _, row := range latencyModes {
			if _, ok := m[row.mode+"-p50-us"]; !ok {
				continue
			}
			r := "1"
			if row.mode != "bare" {
				r = fmt.Sprintf("%.3f", m[row.mode+"/bare"])
			}
			note := ""
			if row.note != "" {
				note = "  (" + row.note + ")"
			}
			fmt.Fprintf(w, "%-24s %8s %9.1f %9.1f %10.2f %16s%s\n", row.mode+"/callers="+c, c,
				m[row.mode+"-p50-us"], m[row.mode+"-p99-us"], m[row.mode+"-allocs/op"], r, note)
		}
	}
}
