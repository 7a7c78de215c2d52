// Command poolscope checks Redis pool configuration, runs the sampling agent
// and runs the demo. Run `poolscope help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/poolscope/poolscope/internal/redisurl"
	"github.com/poolscope/poolscope/pools"
)

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and found a problem (for example an unreachable pool)
	exitUsage = 2 // bad flags, environment or configuration
)

// env is what a subcommand gets from the outside world; tests fill it in.
type env struct {
	args   []string
	stdout io.Writer
	stderr io.Writer
	lookup func(string) (string, bool)
	// environ lists the environment as "NAME=value" (os.Environ), for the
	// near-miss check of variable names; nil reads as empty.
	environ func() []string
}

// nearMisses are the variables set in the environment whose names are
// near-misses of the pools' own (pools.NearMisses).
func (e env) nearMisses() []pools.NearMiss {
	if e.environ == nil {
		return nil
	}
	var names []string
	for _, kv := range e.environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return pools.NearMisses(names)
}

// command is one subcommand. Each lives in its own file and registers
// itself in init.
type command struct {
	summary string
	run     func(ctx context.Context, e env) int
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, env{args: os.Args[1:], stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv, environ: os.Environ})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e env) int {
	if len(e.args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := e.args[0]
	switch name {
	case "help", "-h", "--help":
		usage(e.stdout)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(e.stdout, "poolscope", version)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "poolscope: unknown command %q\n", redactArg(name))
		usage(e.stderr)
		return exitUsage
	}
	e.args = e.args[1:]
	return c.run(ctx, e)
}

// maxArgEcho bounds how much of an argument an error message quotes.
const maxArgEcho = 256

// redactArg prepares a command-line argument for an error message: a URL's
// password (a misplaced --redis value, say) becomes ***, and a very long
// argument is cut, so that one bad argument is one readable line.
func redactArg(a string) string {
	a = redisurl.Redact(a)
	if len(a) > maxArgEcho {
		a = fmt.Sprintf("%s... (%d bytes)", strings.ToValidUTF8(a[:maxArgEcho], ""), len(a))
	}
	return a
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: poolscope <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if c.summary != "" { // internal commands have none
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'poolscope <command> --help' for a command's flags.")
}
