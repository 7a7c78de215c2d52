// Command advisebench is `make advise-bench`: poolscope advise's
// recommendation against the oracle pool size on five workload shapes
// against a real redis-server (see package advisebench). The last line is
// "advise: shapes=N within=W under=U max_over=X%".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/poolscope/poolscope/bench/advisebench"
)

func main() {
	quick := flag.Bool("quick", false, "short runs (seconds in all), for CI")
	verbose := flag.Bool("v", false, "print a line per run as it ends (to stderr)")
	only := flag.String("shapes", "", "comma-separated shape names to run (default: every shape)")
	flag.Parse()
	shapes, err := advisebench.Select(advisebench.Shapes(), *only)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s := advisebench.Full()
	if *quick {
		s = advisebench.Quick()
	}
	if *verbose {
		s.Log = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, err := advisebench.Measure(ctx, shapes, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	advisebench.Report(os.Stdout, results, s)
}
