// Command soak runs poolscope's soak (see e2e/soak) and prints its
// report; the exit status is 1 when a check failed.
//
//	(cd e2e && go run ./soak/cmd/soak) -duration 30m
//
// make soak DURATION=10m runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/poolscope/poolscope/e2e/soak"
)

func main() {
	d := soak.DefaultConfig()
	cfg := soak.Config{Progress: os.Stderr}
	flag.DurationVar(&cfg.Duration, "duration", d.Duration, "length of the run after the warm-up")
	flag.DurationVar(&cfg.Outage, "outage", d.Outage, "how long the collector stays down once")
	flag.DurationVar(&cfg.Window, "window", d.Window, "latency windows before and after the outage")
	flag.DurationVar(&cfg.ServerRestartEvery, "server-restart-every", d.ServerRestartEvery, "redis-server restart period")
	flag.DurationVar(&cfg.CollectorRestartEvery, "collector-restart-every", d.CollectorRestartEvery, "collector restart period")
	flag.DurationVar(&cfg.SampleEvery, "sample-every", d.SampleEvery, "resource sample period")
	flag.IntVar(&cfg.OpsPerSecond, "ops", d.OpsPerSecond, "SET+GET pairs per second")
	flag.Parse()
	if cfg.Duration < cfg.Outage+2*cfg.Window {
		fmt.Fprintf(os.Stderr, "soak: -duration=%q: shorter than the outage and its two windows (%s)\n", cfg.Duration, cfg.Outage+2*cfg.Window)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	fmt.Printf("machine: %d CPUs, %s, %s/%s; took %s\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Since(start).Round(time.Second))
	rep.WriteTable(os.Stdout)
	if rep.Err() != nil {
		os.Exit(1)
	}
}
