// Command benchreport runs instrument's benchmarks and prints a table and,
// as its last line, the summary `make bench` promises:
//
//	overhead: poolscope/bare=R1 redisotel/bare=R2 poolscope/nop=R3 poolscope_added_allocs=N poolscope_added_cpu_ns=C
//
// ns/op, B/op and allocs/op come from BenchmarkGetSet (medians over
// -count runs of each case). The ratios come from BenchmarkOverhead, which
// interleaves the modes in short slices within one process and reports the
// median of per-round throughput ratios with a 95% confidence interval, and
// the CPU time (user + sys of the process, getrusage) per operation: on a
// shared 2-core machine that drifts by tens of percent from one second to
// the next, ratios between separate runs say more about the drift than
// about the code, and longer round trips under load hide a fixed CPU cost
// per command, which the CPU time shows. R1, R2 and R3 (poolscope against
// go-redis with a do-nothing recorder) are the geometric means of the
// sequential and parallel ratios; N is the largest difference in allocs/op
// between poolscope and bare; C the CPU ns per command poolscope adds over
// bare (sequential and parallel combined by inverse variance). The load average the
// benchmark saw is printed, with a warning above 1.
//
// It also runs BenchmarkRecorderCommand (go-redis's recorder calls for one
// command, without I/O) and prints the CPU ns per command poolscope's
// recorder adds over a do-nothing one, with and without its Producer, hot
// and with its data out of the core's caches ("cold").
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
			[]string{"-test.bench", "^BenchmarkRecorderCommand$", "-test.benchtime", *benchtime, "-test.count", strconv.Itoa(*count)},
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
	// ratios holds BenchmarkOverhead's metrics by kind and unit
	// ("sequential" -> "poolscope/bare" -> 0.98, "poolscope-cpu-ns/op" ->
	// 11913, ...).
	ratios map[string]map[string]float64
	// recorder holds every BenchmarkRecorderCommand run's ns/op by case
	// ("poolscope-producer/parallel").
	recorder map[string][]float64
	// latency holds BenchmarkLatency's metrics by number of callers and
	// name ("64" -> "poolscope-p99-us" -> 812); latencyRounds its rounds.
	latency       map[string]map[string]float64
	latencyRounds string
}

type getSetRun struct{ nsOp, bOp, allocs float64 }

var (
	getSetRE    = regexp.MustCompile(`^BenchmarkGetSet/([\w+-]+/\w+)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)
	overheadRE  = regexp.MustCompile(`^BenchmarkOverhead/(\w+)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op(.*)$`)
	recorderRE  = regexp.MustCompile(`^BenchmarkRecorderCommand/([\w+-]+/\w+)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)
	latencyRE   = regexp.MustCompile(`^BenchmarkLatency/callers=(\d+)(?:-\d+)?\s+(\d+)\s+[\d.]+ ns/op(.*)$`)
	anyMetricRE = regexp.MustCompile(`(-?[\d.]+(?:e[-+]?\d+)?|NaN|[-+]Inf) (\S+)`)
)

func parse(r io.Reader) (results, error) {
	res := results{getSet: map[string][]getSetRun{}, recorder: map[string][]float64{}, ratios: map[string]map[string]float64{}, latency: map[string]map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024) // BenchmarkOverhead's lines are long
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
		if m := recorderRE.FindStringSubmatch(line); m != nil {
			// CPU time per command where reported: a busy machine's time
			// slicing inflates the wall time of the parallel case.
			v, _ := strconv.ParseFloat(m[2], 64)
			metrics, err := parseMetrics(line, m[3])
			if err != nil {
				return res, err
			}
			if cpu, ok := metrics["cpu-ns/op"]; ok {
				v = cpu
			}
			res.recorder[m[1]] = append(res.recorder[m[1]], v)
		}
		if m := overheadRE.FindStringSubmatch(line); m != nil {
			metrics, err := parseMetrics(line, m[2])
			if err != nil {
				return res, err
			}
			res.ratios[m[1]] = metrics
		}
		if m := latencyRE.FindStringSubmatch(line); m != nil {
			metrics, err := parseMetrics(line, m[3])
			if err != nil {
				return res, err
			}
			res.latencyRounds = m[2]
			res.latency[m[1]] = metrics
		}
	}
	return res, sc.Err()
}

// parseMetrics reads the "value unit" pairs of a benchmark line's tail.
func parseMetrics(line, tail string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, mm := range anyMetricRE.FindAllStringSubmatch(tail, -1) {
		v, err := strconv.ParseFloat(mm[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		out[mm[2]] = v
	}
	return out, nil
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
	{"poolscope-sdk", "poolscope without its Producer: SDK histograms"},
	{"poolscope+traces", "poolscope with WithTracing (redisotel spans, all sampled, none exported)"},
	{"redisotel", ""},
	{"nop-recorder", "go-redis with a do-nothing recorder: the floor"},
	{"control", "bare again: the noise"},
}

// report prints the table and the summary line, the last line.
func report(w io.Writer, res results) error {
	if len(res.getSet) == 0 || len(res.ratios) == 0 {
		return errors.New("need both BenchmarkGetSet and BenchmarkOverhead results")
	}
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s %s/%s\n", runtime.NumCPU(), res.cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	reportLoad(w, res)
	fmt.Fprintf(w, "ns/op, B/op, allocs/op: BenchmarkGetSet, median of %d runs; the rest: BenchmarkOverhead's interleaved rounds:\n", len(res.getSet["bare/sequential"]))
	fmt.Fprintf(w, "throughput/bare: median of per-round ratios [95%% CI]; cpu ns/op: process CPU (user+sys) per op; +cpu: mean per-round difference to bare +- 95%% CI\n\n")
	fmt.Fprintf(w, "%-28s %9s %9s %6s %9s %24s %9s %16s\n", "case", "ns/op", "ops/s", "B/op", "allocs/op", "throughput/bare [95% CI]", "cpu ns/op", "+cpu ns/op")
	allocs := map[string]float64{}
	for _, kind := range kinds {
		for _, row := range rows {
			name := row.mode + "/" + kind
			runs := res.getSet[name]
			m := res.ratios[kind]
			_, ok := m[row.mode+"/bare"]
			if len(runs) == 0 && !ok {
				continue
			}
			cols := fmt.Sprintf("%9s %9s %6s %9s", "-", "-", "-", "-")
			if len(runs) > 0 {
				var ns, b, a []float64
				for _, r := range runs {
					ns, b, a = append(ns, r.nsOp), append(b, r.bOp), append(a, r.allocs)
				}
				allocs[name] = median(a)
				cols = fmt.Sprintf("%9.0f %9.0f %6.0f %9.0f", median(ns), 1e9/median(ns), median(b), allocs[name])
			}
			ratio, added := "1", "-"
			if row.mode != "bare" {
				ratio = withCI(m, row.mode+"/bare")
				added = plusMinus(m, row.mode+"-added-cpu-ns")
			}
			note := ""
			if row.note != "" {
				note = "  (" + row.note + ")"
			}
			fmt.Fprintf(w, "%-28s %s %24s %9s %16s%s\n", name, cols, ratio, number(m, row.mode+"-cpu-ns/op", "%.0f"), added, note)
		}
	}
	reportFloor(w, res)
	reportRecorder(w, res)
	reportLatency(w, res)
	added := 0.0
	for _, kind := range kinds {
		added = max(added, allocs["poolscope/"+kind]-allocs["bare/"+kind])
	}
	fmt.Fprintf(w, "\noverhead: poolscope/bare=%.3f redisotel/bare=%.3f poolscope/nop=%.3f poolscope_added_allocs=%.0f poolscope_added_cpu_ns=%s\n",
		geo(res, "poolscope/bare"), geo(res, "redisotel/bare"), poolscopeOverNop(res), added, addedCPU(res))
	return nil
}

// geo is the geometric mean over kinds of a BenchmarkOverhead metric.
func geo(res results, unit string) float64 {
	p := 1.0
	for _, kind := range kinds {
		p *= res.ratios[kind][unit]
	}
	return math.Pow(p, 1/float64(len(kinds)))
}

// poolscopeOverNop is poolscope's throughput over the do-nothing
// recorder's; from the bare ratios when the benchmark predates it.
func poolscopeOverNop(res results) float64 {
	if _, ok := res.ratios[kinds[0]]["poolscope/nop"]; ok {
		return geo(res, "poolscope/nop")
	}
	return geo(res, "poolscope/bare") / geo(res, "nop-recorder/bare")
}

// addedCPU is the CPU ns per command poolscope adds over bare: the
// sequential and parallel figures combined, each weighted by the inverse of
// its variance (both measure the same cost, and the sequential one is far
// noisier: an idle core's scheduler spinning lands in its slices); "n/a"
// when the benchmark did not measure it.
func addedCPU(res results) string {
	var sum, weights float64
	for _, kind := range kinds {
		m := res.ratios[kind]
		v, ok := m["poolscope-added-cpu-ns/op"]
		if !ok {
			continue
		}
		w := 1.0
		if ci := m["poolscope-added-cpu-ns-ci95"]; ci > 0 {
			w = 1 / (ci * ci)
		}
		sum, weights = sum+w*v, weights+w
	}
	if weights == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", sum/weights)
}

// withCI formats a ratio and, when reported, its confidence interval.
func withCI(m map[string]float64, unit string) string {
	v, ok := m[unit]
	if !ok {
		return "-"
	}
	lo, okLo := m[unit+"-lo"]
	hi, okHi := m[unit+"-hi"]
	if !okLo || !okHi {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", v, lo, hi)
}

// plusMinus formats a mean difference and its 95% half-width.
func plusMinus(m map[string]float64, name string) string {
	v, ok := m[name+"/op"]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%+.0f +-%.0f", v, m[name+"-ci95"])
}

func number(m map[string]float64, unit, format string) string {
	v, ok := m[unit]
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// loadWarning is the one-minute load average above which ratios are not
// to be trusted (on this project's 2-core reference machine; CPU time per
// command holds under load).
const loadWarning = 1.0

// reportLoad prints the load average the benchmark saw, and a warning
// when it was above loadWarning.
func reportLoad(w io.Writer, res results) {
	var parts []string
	high := 0.0
	for _, kind := range kinds {
		m := res.ratios[kind]
		start, ok1 := m["loadavg-start"]
		end, ok2 := m["loadavg-end"]
		if !ok1 || !ok2 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f -> %.2f", kind, start, end))
		high = max(high, start, end)
	}
	if len(parts) == 0 {
		fmt.Fprintf(w, "load average: not reported\n")
		return
	}
	fmt.Fprintf(w, "load average (1 min, /proc/loadavg, start -> end): %s\n", strings.Join(parts, ", "))
	if high > loadWarning {
		fmt.Fprintf(w, "WARNING: load average above %g: the machine is busy; throughput ratios understate a fixed per-command cost, quote the CPU ns per command instead\n", loadWarning)
	}
}

// reportFloor prints poolscope against the do-nothing recorder.
func reportFloor(w io.Writer, res results) {
	if _, ok := res.ratios[kinds[0]]["poolscope/nop"]; !ok {
		return
	}
	fmt.Fprintf(w, "\npoolscope against go-redis's floor (nop-recorder): throughput ratio [95%% CI], CPU ns added per command +- 95%% CI\n")
	for _, kind := range kinds {
		m := res.ratios[kind]
		fmt.Fprintf(w, "%-28s %24s %16s\n", "poolscope/nop/"+kind, withCI(m, "poolscope/nop"), plusMinus(m, "poolscope-over-nop-cpu-ns"))
	}
}

// reportRecorder prints BenchmarkRecorderCommand: the recorder calls of one
// command without I/O, when it ran.
func reportRecorder(w io.Writer, res results) {
	nop := map[string]float64{}
	for _, kind := range kinds {
		nop[kind] = median(res.recorder["nop/"+kind])
	}
	if len(res.recorder) == 0 {
		return
	}
	fmt.Fprintf(w, "\nrecorder path alone: go-redis's recorder calls for one command, no I/O (BenchmarkRecorderCommand, median CPU ns per command; parallel: 1 goroutine per core;\n"+
		"cold: sequential, each command on the next of 512 pools, so that its data comes from beyond the core's caches, as between a real command's syscalls;\n"+
		"poolscope-producer and poolscope (SDK histograms): every metric, command latency included; poolscope-default: poolscope-producer without command latency, as by default;\n"+
		"floor: poolscope's recorder without any histogram update, what any design keeping these metrics still does: a lower bound)\n")
	fmt.Fprintf(w, "%-36s %10s %16s\n", "case", "cpu ns/op", "added over nop")
	for _, kind := range append(slices.Clone(kinds), "cold") {
		nop[kind] = median(res.recorder["nop/"+kind])
		for _, mode := range []string{"poolscope-producer", "poolscope-default", "floor", "poolscope", "nop"} {
			v := res.recorder[mode+"/"+kind]
			if len(v) == 0 {
				continue
			}
			added := "-"
			if mode != "nop" {
				added = fmt.Sprintf("%+.0f", median(v)-nop[kind])
			}
			fmt.Fprintf(w, "%-36s %10.1f %16s\n", mode+"/"+kind, median(v), added)
		}
	}
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
