// Command memtable prints poolscope's memory table: per-process RSS, VMS
// and PSS of N worker processes with every pool flag off and on, over plain
// TCP and TLS, the memory per connection and per pool slot, and the
// specification's claims next to the measurements. `make memtable` runs it;
// `make memtable-quick` runs the small CI version (-quick).
//
// It re-executes itself as its worker processes (see memtable.WorkerMain).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/poolscope/poolscope/bench/memtable"
	"github.com/poolscope/poolscope/internal/redislog"
)

func main() {
	if code, ok := memtable.WorkerMain(); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("memtable", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "small configuration for CI (N=4, short sweeps); flags given explicitly still apply")
	d := memtable.DefaultConfig()
	workers := fs.String("n", "", "worker counts, comma-separated (default 10,50,100; -quick: 4)")
	k := fs.Int("k", d.Workload.Clients, "clients per worker (K)")
	goroutines := fs.Int("goroutines", 0, "goroutines per client (default 8; -quick: 4)")
	rounds := fs.Int("rounds", 0, "workload rounds per goroutine (default 20; -quick: 8)")
	pipelineEvery := fs.Int("pipeline-every", d.Workload.PipelineEvery, "a pipelined round every this many rounds (0: none)")
	valueSize := fs.Int("value-size", d.Workload.ValueSize, "bytes per SET value")
	connSteps := fs.String("conn-steps", "", "connection counts of the per-connection sweep (default 0,10,50,100,200; -quick: 0,10,20,40)")
	slotSteps := fs.String("slot-steps", "", "pool sizes of the pool-slot sweep (default 10,100,1000,10000; -quick: 10,1000,10000)")
	slotClients := fs.Int("slot-clients", 0, "clients per step of the pool-slot sweep (default 100; -quick: 20)")
	parallel := fs.Int("parallel", d.Parallel, "workers running their workload at the same time")
	noTLS := fs.Bool("no-tls", false, "skip the TLS runs and sweep")
	stepTimeout := fs.Duration("step-timeout", 0, "bound on each wait (workers steady, a sample, the server draining) (default 15m; -quick: 3m)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "memtable: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	cfg := d
	if *quick {
		cfg = memtable.QuickConfig()
	}
	var errs []error
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	ints := func(name, v string, dst *[]int) {
		if !set[name] {
			return
		}
		xs, err := memtable.ParseInts("-"+name, v)
		if err != nil {
			errs = append(errs, err)
			return
		}
		*dst = xs
	}
	ints("n", *workers, &cfg.Workers)
	ints("conn-steps", *connSteps, &cfg.ConnSteps)
	ints("slot-steps", *slotSteps, &cfg.SlotSteps)
	if set["k"] {
		cfg.Workload.Clients = *k
	}
	if set["goroutines"] {
		cfg.Workload.Goroutines = *goroutines
	}
	if set["rounds"] {
		cfg.Workload.Rounds = *rounds
	}
	if set["pipeline-every"] {
		cfg.Workload.PipelineEvery = *pipelineEvery
	}
	if set["value-size"] {
		cfg.Workload.ValueSize = *valueSize
	}
	if set["slot-clients"] {
		cfg.SlotClients = *slotClients
	}
	if set["parallel"] {
		cfg.Parallel = *parallel
	}
	if set["step-timeout"] {
		cfg.StepTimeout = *stepTimeout
	}
	cfg.TLS = !*noTLS
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	// go-redis logs the dial retries of the harness's own connections; on a
	// loaded machine they would interleave with the table.
	redislog.Route(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := memtable.Measure(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "memtable: measured in %s\n", time.Since(start).Round(time.Second))
	// The table goes to stdout, its summary line last.
	if err := res.Report(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "memtable:", err)
		return 1
	}
	return 0
}
