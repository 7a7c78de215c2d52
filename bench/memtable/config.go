package memtable

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config says what to measure. DefaultConfig is the full table of `make
// memtable`; QuickConfig the small one for CI and tests.
type Config struct {
	// Workers are the worker counts N, one pair of runs (pools off, on)
	// per count and transport.
	Workers []int
	// Workload is what every worker does.
	Workload Workload
	// ConnSteps are the connection counts of the per-connection sweep.
	ConnSteps []int
	// SlotSteps are the pool sizes of the pool-slot sweep, and
	// SlotClients the number of clients created at each step (slots per
	// step = SlotClients x the step).
	SlotSteps   []int
	SlotClients int
	// TLS adds the runs and the sweep over TLS.
	TLS bool
	// Parallel is how many workers run their workload at the same time
	// (the others have finished theirs and hold their connections, or have
	// not started).
	Parallel int
	// StepTimeout bounds each wait: for N workers to be steady, for a
	// sample, for the server to drop the connections of a finished run.
	StepTimeout time.Duration
	// Executable is the binary started as a worker; it must call
	// WorkerMain first thing (default: the running binary, os.Executable).
	Executable string
}

// Workload is what each worker process does (see the package
// documentation of the worker in worker.go).
type Workload struct {
	// Clients is K: the clients each worker asks its pools for.
	Clients int
	// Goroutines run concurrently on each client.
	Goroutines int
	// Rounds each goroutine runs: SET and GET of its own key, plus a
	// three-command pipeline every PipelineEvery-th round.
	Rounds int
	// PipelineEvery is the period of the pipelined round (0: none).
	PipelineEvery int
	// ValueSize is the size of each SET value in bytes.
	ValueSize int
}

// DefaultConfig is the full measurement: N = 10, 50 and 100, K = 10.
func DefaultConfig() Config {
	return Config{
		Workers: []int{10, 50, 100},
		Workload: Workload{
			Clients: 10, Goroutines: 8, Rounds: 20, PipelineEvery: 4, ValueSize: 128,
		},
		ConnSteps:   []int{0, 10, 50, 100, 200},
		SlotSteps:   []int{10, 100, 1000, 10000},
		SlotClients: 100,
		TLS:         true,
		Parallel:    4,
		// 100 workers opening some 16000 TLS connections at once take
		// minutes on a loaded 2-core machine.
		StepTimeout: 15 * time.Minute,
	}
}

// QuickConfig is DefaultConfig scaled down for CI: N = 4, fewer rounds,
// a shorter sweep. Its figures are for checking the machinery, not for
// quoting.
func QuickConfig() Config {
	c := DefaultConfig()
	c.Workers = []int{4}
	c.Workload.Goroutines = 4
	c.Workload.Rounds = 8
	c.ConnSteps = []int{0, 10, 20, 40}
	c.SlotSteps = []int{10, 1000, 10000}
	c.SlotClients = 20
	c.StepTimeout = 3 * time.Minute
	return c
}

// Bounds checked by Validate: beyond them a run needs more connections or
// processes than one small machine and one redis-server should be asked
// for.
const (
	maxWorkers    = 500
	maxClients    = 100
	maxGoroutines = 256
	maxRounds     = 100000
	maxConnStep   = 5000
	maxSlotStep   = 1000000
	maxValueSize  = 1 << 20
)

// Validate reports every problem at once, each naming the flag of the
// memtable command and the value.
func (c Config) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("memtable: "+format, args...)) }
	if len(c.Workers) == 0 {
		fail("-n: no worker counts given")
	}
	for _, n := range c.Workers {
		if n < 1 || n > maxWorkers {
			fail("-n=%q: want worker counts from 1 to %d", strconv.Itoa(n), maxWorkers)
		}
	}
	w := c.Workload
	if w.Clients < 1 || w.Clients > maxClients {
		fail("-k=%q: want 1 to %d clients per worker", strconv.Itoa(w.Clients), maxClients)
	}
	if w.Goroutines < 1 || w.Goroutines > maxGoroutines {
		fail("-goroutines=%q: want 1 to %d per client", strconv.Itoa(w.Goroutines), maxGoroutines)
	}
	if w.Rounds < 1 || w.Rounds > maxRounds {
		fail("-rounds=%q: want 1 to %d", strconv.Itoa(w.Rounds), maxRounds)
	}
	if w.PipelineEvery < 0 {
		fail("-pipeline-every=%q: want 0 (no pipelines) or a positive period", strconv.Itoa(w.PipelineEvery))
	}
	if w.ValueSize < 1 || w.ValueSize > maxValueSize {
		fail("-value-size=%q: want 1 to %d bytes", strconv.Itoa(w.ValueSize), maxValueSize)
	}
	if len(c.ConnSteps) < 2 {
		fail("-conn-steps=%q: want at least two connection counts to fit a slope", joinInts(c.ConnSteps))
	}
	for _, s := range c.ConnSteps {
		if s < 0 || s > maxConnStep {
			fail("-conn-steps=%q: want counts from 0 to %d", joinInts(c.ConnSteps), maxConnStep)
			break
		}
	}
	if len(c.SlotSteps) < 2 {
		fail("-slot-steps=%q: want at least two pool sizes to fit a slope", joinInts(c.SlotSteps))
	}
	for _, s := range c.SlotSteps {
		if s < 1 || s > maxSlotStep {
			fail("-slot-steps=%q: want pool sizes from 1 to %d", joinInts(c.SlotSteps), maxSlotStep)
			break
		}
	}
	if c.SlotClients < 1 || c.SlotClients > 1000 {
		fail("-slot-clients=%q: want 1 to 1000", strconv.Itoa(c.SlotClients))
	}
	if c.Parallel < 1 || c.Parallel > maxWorkers {
		fail("-parallel=%q: want 1 to %d workers at a time", strconv.Itoa(c.Parallel), maxWorkers)
	}
	if c.StepTimeout <= 0 {
		fail("-step-timeout=%q: want a positive duration", c.StepTimeout.String())
	}
	return errors.Join(errs...)
}

// ParseInts reads a comma-separated list of integers, as the -n and -*-steps
// flags take it. The error names the flag and the value.
func ParseInts(flag, s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("memtable: %s=%q: %q is not an integer", flag, s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
