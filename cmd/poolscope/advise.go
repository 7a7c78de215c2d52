package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/poolscope/poolscope/advise"
)

func init() {
	register("advise", command{
		summary: "advise each pool's size from what Prometheus recorded, and check every server's fleet budget",
		run:     runAdvise,
	})
}

const adviseHelp = `Usage: poolscope advise --prometheus URL [--window 24h] [--step 1m] [--wait-p99 1ms] [--service S] [--json]

Reads what poolscope recorded in Prometheus (pool metrics through the
collector: job = service.name, instance = service.instance.id; maxclients
from poolscope's agent) and tells each service's pools what size to set:
the demand seen (connections in use + callers waiting, busiest intervals
and peak), the wait p99 now and at the advised size, the change in
connections and memory per process and for the whole service, and per
Redis server the fleet budget (every process's max) against maxclients.
Ends with the REDIS_* lines to set. The model is documented in
docs/advise.md.

Exit status: 0 with advice (a pool without enough data says what it lacks),
2 for bad flags, an unreachable Prometheus or one without poolscope's pool
metrics.

Examples:
  poolscope advise --prometheus http://prometheus:9090
  poolscope advise --prometheus http://prometheus:9090 --service checkout --window 7d --wait-p99 2ms
  poolscope advise --prometheus http://prometheus:9090 --json | jq '.pools[] | select(.verdict == "grow")'

Flags:
`

// Bounds of the flags, and why.
const (
	minAdviseStep = time.Second // below a scrape interval, rate() sees one sample
	maxAdviseStep = time.Hour
	// maxAdvisePoints is Prometheus's own limit on points per series in a
	// range query.
	maxAdvisePoints     = 11000
	maxAdviseWindowDays = 90
	maxAdviseWindow     = maxAdviseWindowDays * 24 * time.Hour
	minWaitTarget       = time.Microsecond
	maxWaitTarget       = 10 * time.Second
	minQueryTimeout     = time.Second
	maxQueryTimeout     = 10 * time.Minute
	maxServiceName      = 256
)

// adviseFlags are the parsed, validated flags.
type adviseFlags struct {
	prometheus *url.URL // without credentials
	user       *url.Userinfo
	window     time.Duration
	step       time.Duration
	waitTarget time.Duration
	service    string
	asJSON     bool
	timeout    time.Duration
}

func runAdvise(ctx context.Context, e env) int {
	f, code, ok := parseAdviseFlags(e)
	if !ok {
		return code
	}
	src := newPromSource(f)
	defer src.close()
	pools, servers, err := src.observe(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "poolscope advise: %v\n", err)
		return exitUsage
	}
	memory := src.memoryPerConnection(ctx, pools)
	report, err := advise.Advise(pools, servers, advise.WithWaitTarget(f.waitTarget), advise.WithMemory(memory...))
	if err != nil { // the flags were validated against the same bounds
		fmt.Fprintf(e.stderr, "poolscope advise: %v\n", err)
		return exitUsage
	}
	if f.asJSON {
		writeAdviceJSON(e.stdout, f, report)
		return exitOK
	}
	writeAdviceText(e.stdout, f, report)
	return exitOK
}

// parseAdviseFlags parses and checks every flag, reporting every problem.
func parseAdviseFlags(e env) (adviseFlags, int, bool) {
	fs := flag.NewFlagSet("poolscope advise", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	prom := fs.String("prometheus", "", "base URL of Prometheus's HTTP API, e.g. http://prometheus:9090 (required)")
	window := fs.String("window", "24h", "how far back to look; Go duration, or a number of days such as 7d")
	step := fs.Duration("step", time.Minute, "width of the intervals whose demand is compared; at least 4 scrape intervals")
	wait := fs.Duration("wait-p99", advise.DefaultWaitTarget, "wait for a connection that the advised size must keep the p99 within")
	service := fs.String("service", "", "only this service (its service.name, the Prometheus job)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on each Prometheus query")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), adviseHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(e.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return adviseFlags{}, exitOK, false
		}
		return adviseFlags{}, exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "poolscope advise: unexpected argument %q\n", redactArg(fs.Arg(0)))
		return adviseFlags{}, exitUsage, false
	}
	f := adviseFlags{step: *step, waitTarget: *wait, service: *service, asJSON: *asJSON, timeout: *timeout}
	var problems []string
	bad := func(name, value, why string) {
		problems = append(problems, fmt.Sprintf("poolscope advise: --%s=%q: %s", name, redactArg(value), why))
	}
	var err error
	if f.prometheus, f.user, err = parsePrometheusURL(*prom); err != nil {
		bad("prometheus", *prom, err.Error())
	}
	if f.window, err = parseWindow(*window); err != nil {
		bad("window", *window, err.Error())
	}
	checkRange(bad, "step", f.step, minAdviseStep, maxAdviseStep)
	checkRange(bad, "wait-p99", f.waitTarget, minWaitTarget, maxWaitTarget)
	checkRange(bad, "timeout", f.timeout, minQueryTimeout, maxQueryTimeout)
	serviceSet := false
	fs.Visit(func(fl *flag.Flag) { serviceSet = serviceSet || fl.Name == "service" })
	if err := checkService(f.service, serviceSet); err != nil {
		bad("service", f.service, err.Error())
	}
	if len(problems) == 0 {
		if n := f.window / f.step; n < advise.DefaultMinIntervals || n > maxAdvisePoints {
			problems = append(problems, fmt.Sprintf("poolscope advise: --window=%q --step=%q: %d intervals, want %d to %d",
				f.window, f.step, n, advise.DefaultMinIntervals, maxAdvisePoints))
		}
	}
	for _, p := range problems {
		fmt.Fprintln(e.stderr, p)
	}
	return f, exitUsage, len(problems) == 0
}

func checkRange(bad func(name, value, why string), name string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		bad(name, d.String(), fmt.Sprintf("want %s to %s", lo, hi))
	}
}

// parsePrometheusURL accepts http(s)://host[:port][/path]. Credentials are
// split off, so that no error or log line can show them; a query or
// fragment is refused (the API paths are appended to the URL).
func parsePrometheusURL(raw string) (*url.URL, *url.Userinfo, error) {
	switch {
	case raw == "":
		return nil, nil, errors.New("required: the base URL of Prometheus, e.g. http://prometheus:9090")
	case len(raw) > maxFlagValue:
		return nil, nil, fmt.Errorf("longer than %d bytes", maxFlagValue)
	case strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 || !utf8.ValidString(raw):
		return nil, nil, errors.New("contains white space or characters that do not print")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, nil, errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, nil, fmt.Errorf("unsupported scheme %q (want http or https)", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, nil, errors.New("no host")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, nil, errors.New("a query or fragment is not supported: give the base URL")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscan(p, &n); err != nil || n < 1 || n > 65535 {
			return nil, nil, fmt.Errorf("port %q out of range", p)
		}
	}
	user := u.User
	u.User = nil
	return u, user, nil
}

// parseWindow takes a Go duration or a whole number of days ("7d"). A
// number of days out of range ("91d") is refused as out of range, not as
// something that is not a duration.
func parseWindow(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		var n int
		if _, serr := fmt.Sscanf(days, "%d", &n); serr == nil && fmt.Sprint(n) == days && n >= 0 && n <= maxAdviseWindowDays*1000 {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	switch {
	case err != nil:
		return 0, errors.New("not a duration (such as 24h, 90m or 7d)")
	case d <= 0 || d > maxAdviseWindow:
		return 0, fmt.Errorf("want more than 0 and at most %dd (%s)", maxAdviseWindowDays, maxAdviseWindow)
	}
	return d, nil
}

// checkService accepts a service name as OpenTelemetry SDKs give it: any
// printable text, bounded.
func checkService(s string, set bool) error {
	switch {
	case s == "" && set:
		return errors.New("empty (leave --service out for every service)")
	case s == "":
		return nil
	case len(s) > maxServiceName:
		return fmt.Errorf("longer than %d bytes", maxServiceName)
	case strings.TrimSpace(s) == "":
		return errors.New("blank")
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 || !utf8.ValidString(s):
		return errors.New("not a printable service name")
	}
	return nil
}
