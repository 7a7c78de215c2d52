// Command benchtables prints the agent-cost and server-impact tables of
// `make bench` (see package bench/benchtables):
//
//	go run ./benchtables/cmd/benchtables (in the bench module) agent  [-sizes 100,1000] [-window 60s]
//	go run ./benchtables/cmd/benchtables (in the bench module) server [-sizes 100,1000,10000] [-window 30s]
//	go run ./benchtables/cmd/benchtables (in the bench module) discovery [-processes 1000] [-namespaces 50] [-window 15s]
//
// Run it from the repository: it builds ./cmd/poolscope and, for the agent
// table, the hostmetrics collector (scripts/build-collector.sh, cached;
// several minutes the first time) unless -poolscope and -collector name
// binaries. Progress goes to stderr, the tables to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poolscope/poolscope/bench/benchtables"
	"github.com/poolscope/poolscope/e2e/harness"
)

const usage = `Usage: benchtables agent|server|discovery [flags]

  agent   CPU per pass per process, CPU share and RSS of poolscope agent and of
          the Collector's hostmetrics process scraper on the same processes
  server  time a redis-server spends in CLIENT LIST, and the agent's share of
          the server's CPU, at each number of connected clients
  discovery
          discovery's cost of reading each process's socket table, with the
          processes in one network namespace and spread over many (as root)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "agent" && args[0] != "server" && args[0] != "discovery") {
		fmt.Fprint(stderr, usage)
		return 2
	}
	table := args[0]
	fs := flag.NewFlagSet("benchtables "+table, flag.ContinueOnError)
	fs.SetOutput(stderr)
	defSizes, defWindow := "100,1000", 60*time.Second
	switch table {
	case "server":
		defSizes, defWindow = "100,1000,10000", 65*time.Second
	case "discovery":
		defWindow = 15 * time.Second
	}
	sizesFlag := fs.String("sizes", defSizes, "comma-separated `SIZES`: processes (agent) or connected clients (server)")
	window := fs.Duration("window", defWindow, "measurement `WINDOW` at each size")
	interval := fs.Duration("interval", time.Second, "agent: both samplers' collection `INTERVAL`")
	poolscope := fs.String("poolscope", "", "poolscope `BINARY` (default: go build ./cmd/poolscope)")
	collector := fs.String("collector", "", "agent: hostmetrics collector `BINARY` (default: scripts/build-collector.sh with "+benchtables.HostmetricsManifest+")")
	calls := fs.Int("calls", 20, "server: forced CLIENT LIST `CALLS` at each size")
	processes := fs.Int("processes", 1000, "discovery: holder `PROCESSES`, one TCP connection each")
	namespaces := fs.Int("namespaces", 50, "discovery: network `NAMESPACES` of the spread layout")
	passes := fs.Int("passes", 3, "discovery: `PASSES` of each in-process way of reading (the per-process read: one)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}

	if *poolscope == "" || (table == "agent" && *collector == "") {
		root, err := harness.RepoRoot()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "poolscope-benchtables-")
		if err != nil {
			fmt.Fprintln(stderr, "benchtables:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if *poolscope == "" {
			if *poolscope, err = harness.BuildPoolscope(root, dir); err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
		}
		if table == "agent" && *collector == "" {
			fmt.Fprintln(stderr, "benchtables: building the hostmetrics collector (cached; several minutes the first time)")
			if *collector, err = harness.CollectorBinary(root, benchtables.HostmetricsManifest); err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
		}
	}

	fmt.Fprintf(stdout, "machine: %s\n", benchtables.Machine())
	switch table {
	case "agent":
		rows, err := benchtables.AgentCost(ctx, benchtables.AgentCostConfig{
			Sizes: sizes, Window: *window, Interval: *interval,
			Poolscope: *poolscope, Collector: *collector, Log: stderr,
		})
		benchtables.PrintAgentCost(stdout, rows)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	case "server":
		rows, err := benchtables.ServerImpact(ctx, benchtables.ServerImpactConfig{
			Sizes: sizes, Window: *window, Calls: *calls, Poolscope: *poolscope, Log: stderr,
		})
		benchtables.PrintServerImpact(stdout, rows)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	case "discovery":
		rows, err := benchtables.DiscoveryCost(ctx, benchtables.DiscoveryCostConfig{
			Processes: *processes, Namespaces: *namespaces, Passes: *passes, Window: *window,
			Poolscope: *poolscope, Log: stderr,
		})
		benchtables.PrintDiscoveryCost(stdout, rows)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	return 0
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("benchtables: -sizes=%q: %q is not a positive whole number", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}
