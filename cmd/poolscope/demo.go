package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/pools"
)

func init() {
	register("demo", command{
		summary: "run a workload with pools on and off against its own redis-server and show live figures",
		run:     runDemo,
	})
}

const demoHelp = `Usage: poolscope demo [--duration D] [--components N] [--concurrency N]

Starts its own redis-server on a free loopback port (nothing else is needed),
then two worker processes running the same workload: one with every pool
enabled (shared, capped) and one with every pool disabled (go-redis defaults
per client). Once a second it prints what each pool holds, what each process
costs and what the server sees. Ctrl-C or the end of --duration stops
everything it started.

Examples:
  poolscope demo
  poolscope demo --duration 2m --components 20

Flags:
`

// demoWorker is one child process and its latest report.
type demoWorker struct {
	label string
	cmd   *exec.Cmd
	done  chan struct{}

	mu     sync.Mutex
	latest *workerReport
}

func runDemo(ctx context.Context, e env) int {
	fs := flag.NewFlagSet("poolscope demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	duration := fs.Duration("duration", 30*time.Second, "how long to run (0: until Ctrl-C)")
	components := fs.Int("components", 10, "clients each role's code asks for in each worker")
	concurrency := fs.Int("concurrency", 4, "concurrent callers per client")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(e.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	var bad []string
	if *duration < 0 {
		bad = append(bad, fmt.Sprintf("--duration=%q: must be 0 or positive", duration.String()))
	}
	if *components < 1 || *components > 1000 {
		bad = append(bad, fmt.Sprintf("--components=%q: want 1 to 1000", strconv.Itoa(*components)))
	}
	if *concurrency < 1 || *concurrency > 100 {
		bad = append(bad, fmt.Sprintf("--concurrency=%q: want 1 to 100", strconv.Itoa(*concurrency)))
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(e.stderr, "poolscope demo:", b)
		}
		return exitUsage
	}
	redislog.Route(slog.New(slog.NewTextHandler(io.Discard, nil)))

	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	server, err := redisserver.Start(redisserver.Options{})
	if err != nil {
		fmt.Fprintln(e.stderr, "poolscope demo:", err)
		return exitFail
	}
	defer server.Close()
	fmt.Fprintf(e.stdout, "poolscope demo: redis-server %s (pid %d); Ctrl-C to stop\n", server.Addr(), server.Pid())

	workers, err := startWorkers(ctx, e, server.URL(), *components, *concurrency)
	defer stopWorkers(workers)
	if err != nil {
		fmt.Fprintln(e.stderr, "poolscope demo:", err)
		return exitFail
	}

	start := time.Now()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			printDemo(ctx, e.stdout, server, workers, time.Since(start))
			fmt.Fprintln(e.stdout, "poolscope demo: stopped")
			return exitOK
		case <-ticker.C:
			printDemo(ctx, e.stdout, server, workers, time.Since(start))
		}
	}
}

// startWorkers re-executes this binary as two demo-workers, one with every
// pool enabled and one with every pool disabled. Their environment names
// only the demo's server, whatever the caller's REDIS_* variables say.
func startWorkers(ctx context.Context, e env, url string, components, concurrency int) ([]*demoWorker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_") && !strings.HasPrefix(kv, "OTEL_") {
			base = append(base, kv)
		}
	}
	var workers []*demoWorker
	for _, mode := range []struct {
		label, flag string
	}{{"pooled", "1"}, {"unpooled", "0"}} {
		vars := append([]string(nil), base...)
		vars = append(vars, "OTEL_SERVICE_NAME=demo-"+mode.label, "REDIS_MASTER_URL="+url, "REDIS_LOCAL_URL="+url,
			"REDIS_HEALTH_CHECK_INTERVAL=1s")
		for _, role := range []string{"MASTER", "SLAVE", "LOCAL", "ASYNC"} {
			vars = append(vars, "REDIS_"+role+"_POOL_ENABLED="+mode.flag)
		}
		cmd := exec.Command(exe, "demo-worker", "--components", strconv.Itoa(components), "--concurrency", strconv.Itoa(concurrency))
		cmd.Env = vars
		cmd.Stderr = e.stderr
		// Pdeathsig: a demo killed hard must not leave workers behind.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return workers, err
		}
		if err := cmd.Start(); err != nil {
			return workers, fmt.Errorf("start %s worker: %w", mode.label, err)
		}
		w := &demoWorker{label: mode.label, cmd: cmd, done: make(chan struct{})}
		workers = append(workers, w)
		go w.read(out)
	}
	return workers, nil
}

func (w *demoWorker) read(out io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var r workerReport
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			w.mu.Lock()
			w.latest = &r
			w.mu.Unlock()
		}
	}
}

func (w *demoWorker) report() *workerReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest
}

// stopWorkers asks each worker to stop (SIGTERM), then kills stragglers.
func stopWorkers(workers []*demoWorker) {
	for _, w := range workers {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range workers {
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		_ = w.cmd.Wait()
	}
}

func printDemo(ctx context.Context, out io.Writer, server *redisserver.Server, workers []*demoWorker, elapsed time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n── %s ──────────────────────────────────────────────\n", elapsed.Round(time.Second))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "worker\tpid\tpool\tclients\tmax\ttotal\tused\tidle\twaits\ttimeouts\thits\tmisses\twait mean\t")
	for _, w := range workers {
		r := w.report()
		if r == nil {
			fmt.Fprintf(tw, "%s\t%d\t(starting)\t\t\t\t\t\t\t\t\t\t\t\n", w.label, w.cmd.Process.Pid)
			continue
		}
		for _, p := range r.Pools {
			max := "-"
			if p.Shared {
				max = strconv.Itoa(p.Max)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.3f ms\t\n",
				w.label, r.Pid, p.Role, p.Clients, max, p.Total, p.Used, p.Idle, p.Waits, p.Timeouts, p.Hits, p.Misses, p.WaitMeanMS)
		}
	}
	_ = tw.Flush()

	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	counts, err := server.ClientsByName(qctx)
	if err != nil {
		fmt.Fprintf(&b, "server: %v\n", err)
	} else {
		total := 0
		names := make([]string, 0, len(counts))
		for n, c := range counts {
			total += c
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "server %s: %d clients\n", server.Addr(), total)
		for _, n := range names {
			if _, ok := pools.ParseClientName(n); ok || n == "" {
				fmt.Fprintf(&b, "  %-28s %5d\n", displayName(n), counts[n])
			}
		}
	}
	fmt.Fprint(out, b.String())
}

func displayName(n string) string {
	if n == "" {
		return "(no name)"
	}
	return n
}
