package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/poolscope/poolscope/internal/redislog"
	"github.com/poolscope/poolscope/pools"
)

func init() {
	register("check", command{
		summary: "print the pools the environment configures (and --connect to PING them)",
		run:     runCheck,
	})
}

const checkHelp = `Usage: poolscope check [--json] [--connect] [--timeout D]

Reads the REDIS_* environment exactly as an application using poolscope's
pools would, and prints the effective pools, where each value came from
(the variable that set it, "default", or "from REDIS_MASTER_URL" for a URL
that follows the master's), and whether TLS certificates are verified.
Passwords show as ***.

Exit status: 0 when the configuration is valid (and, with --connect, every
enabled pool answered), 1 when a pool is unreachable, 2 when the
configuration is invalid or a variable name is a near-miss of a poolscope
variable, such as REDIS_MASTER_POOLSIZE (one line per problem on stderr).

Examples:
  poolscope check
  REDIS_MASTER_URL=rediss://:secret@redis:6380/0 REDIS_TLS_CA_FILE=ca.pem poolscope check --connect
  poolscope check --json | jq '.pools[] | select(.enabled)'

Flags:
`

// Bounds of check --timeout: below a millisecond no PING can answer, even
// on loopback; above an hour the check is a hang, not a check.
const (
	minCheckTimeout = time.Millisecond
	maxCheckTimeout = time.Hour
)

// poolView is one pool as `check` prints it. The JSON keys are a stable
// interface: scripts read them.
type poolView struct {
	Role        string `json:"role"`
	Enabled     bool   `json:"enabled"`
	Shared      bool   `json:"shared"`
	MinIdle     int    `json:"min_idle"`
	Max         int    `json:"max"`
	Address     string `json:"address"`
	ViaSentinel bool   `json:"via_sentinel"`
	TLS         bool   `json:"tls"`
	// TLSVerified is false when REDIS_TLS_INSECURE_SKIP_VERIFY=1 turns
	// certificate verification off; absent without TLS.
	TLSVerified *bool  `json:"tls_certificates_verified,omitempty"`
	ClientName  string `json:"client_name"`
	// Origins says where each value came from: a variable's name,
	// "default", or "from REDIS_MASTER_URL".
	Origins poolOrigins `json:"origins"`
	// Set by --connect.
	Reachable *bool   `json:"reachable,omitempty"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Error     string  `json:"error,omitempty"`
}

func runCheck(ctx context.Context, e env) int {
	fs := flag.NewFlagSet("poolscope check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	connect := fs.Bool("connect", false, "dial every enabled pool and PING it")
	timeout := fs.Duration("timeout", 3*time.Second, "PING timeout for --connect, 1ms to 1h")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(e.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "poolscope check: unexpected argument %q\n", redactArg(fs.Arg(0)))
		return exitUsage
	}
	switch {
	case *timeout <= 0:
		fmt.Fprintf(e.stderr, "poolscope check: --timeout=%q: must be positive\n", timeout.String())
		return exitUsage
	case *timeout < minCheckTimeout:
		fmt.Fprintf(e.stderr, "poolscope check: --timeout=%q: shorter than %s (no PING can answer in time)\n", timeout.String(), minCheckTimeout)
		return exitUsage
	case *timeout > maxCheckTimeout:
		fmt.Fprintf(e.stderr, "poolscope check: --timeout=%q: longer than %s\n", timeout.String(), maxCheckTimeout)
		return exitUsage
	}

	cfg, err := pools.LoadConfig(e.lookup)
	if problems := configProblems(err, e.nearMisses()); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(e.stderr, p)
		}
		return exitUsage
	}
	printNotes(e.stderr, cfg)
	views := describe(cfg)
	code := exitOK
	if *connect {
		code = ping(ctx, cfg, views, *timeout, e.stderr)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"pools": views,
			"service": map[string]string{"name": pools.SanitizeService(cfg.Service), "from": string(cfg.ServiceOrigin)}})
		return code
	}
	printTable(e.stdout, views, *connect)
	printOrigins(e.stdout, cfg, views)
	return code
}

// printErrors writes one line per problem of a joined error.
func printErrors(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, line)
	}
}

func describe(cfg pools.Config) []*poolView {
	var views []*poolView
	for _, r := range pools.Roles {
		rc := cfg.Role(r)
		v := &poolView{
			Role:        string(r),
			Enabled:     rc.Enabled,
			Shared:      rc.Enabled,
			MinIdle:     rc.MinIdle,
			Max:         rc.Max,
			Address:     rc.RedactedURL(),
			ViaSentinel: rc.ViaSentinel,
			TLS:         rc.TLS(),
			// The pid is the application's, not check's: show the pattern.
			ClientName: pools.SanitizeService(cfg.Service) + ":" + string(r) + ":<pid>",
			Origins:    poolOrigins{string(rc.Origins.Enabled), string(rc.Origins.URL), string(rc.Origins.MinIdle), string(rc.Origins.Max)},
		}
		if v.TLS {
			verified := cfg.TLSVerified()
			v.TLSVerified = &verified
		}
		if !rc.Enabled {
			// A disabled role hands out go-redis-default clients: no shared
			// pool, no cap, no pre-dialled connections.
			v.MinIdle, v.Max = 0, 0
		}
		if rc.ViaSentinel {
			v.Address = fmt.Sprintf("sentinel %s master %q", strings.Join(cfg.Sentinel.Addrs, ","), cfg.Sentinel.MasterName)
			if r == pools.Replica {
				v.Address = fmt.Sprintf("sentinel %s replicas of %q", strings.Join(cfg.Sentinel.Addrs, ","), cfg.Sentinel.MasterName)
			}
		}
		views = append(views, v)
	}
	return views
}

// ping opens the pools exactly as an application would and waits for each
// enabled pool's first health check: a PING through the pool's settings
// (address, credentials, TLS) with one attempt and the given timeout, so
// that the error shown is the real cause (refused, TLS, auth), not a retry
// loop's deadline.
func ping(ctx context.Context, cfg pools.Config, views []*poolView, timeout time.Duration, stderr io.Writer) int {
	cfg.HealthCheckInterval = time.Hour // one check is all check needs
	cfg.HealthCheckTimeout = timeout
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	redislog.Route(quiet)
	p, err := pools.New(cfg, pools.WithLogger(quiet))
	if err != nil {
		printErrors(stderr, err)
		return exitUsage
	}
	defer p.Close()
	code := exitOK
	for _, v := range views {
		if !v.Enabled {
			continue
		}
		h := waitFirstCheck(ctx, p, pools.Role(v.Role))
		ok := h.Checked && h.Healthy
		v.Reachable = &ok
		switch {
		case ok:
			v.LatencyMS = float64(h.Last.Duration.Microseconds()) / 1000
		case !h.Checked:
			v.Error = "interrupted"
			code = exitFail
		default:
			// go-redis errors name addresses, not passwords; redact any
			// URL anyway in case a wrapped error quotes one.
			v.Error = h.Last.Err.Error()
			if strings.Contains(v.Error, "://") {
				v.Error = pools.RedactURL(v.Error)
			}
			code = exitFail
		}
	}
	return code
}

func waitFirstCheck(ctx context.Context, p *pools.Pools, r pools.Role) pools.HealthStatus {
	for {
		h := p.Health(r)
		if h.Checked || ctx.Err() != nil {
			return h
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func printTable(w io.Writer, views []*poolView, connected bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "ROLE\tENABLED\tSHARED\tMIN\tMAX\tADDRESS\tSENTINEL\tTLS\tCLIENT NAME"
	if connected {
		header += "\tPING"
	}
	fmt.Fprintln(tw, header)
	for _, v := range views {
		max := fmt.Sprint(v.Max)
		if !v.Enabled {
			max = "go-redis default"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s", v.Role, yesNo(v.Enabled), yesNo(v.Shared), v.MinIdle, max, v.Address, yesNo(v.ViaSentinel), tlsText(v), v.ClientName)
		if connected {
			switch {
			case !v.Enabled:
				line += "\t-"
			case v.Error != "":
				line += "\tERROR: " + v.Error
			default:
				line += fmt.Sprintf("\t%.2f ms", v.LatencyMS)
			}
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

// tlsText is the TLS column: plain about certificates that are not
// verified.
func tlsText(v *poolView) string {
	if v.TLSVerified != nil && !*v.TLSVerified {
		return "yes (certificates NOT verified)"
	}
	return yesNo(v.TLS)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// poolOrigins is where a pool's values came from, as check prints them.
type poolOrigins struct {
	Enabled string `json:"enabled"`
	URL     string `json:"url"`
	MinIdle string `json:"min_idle"`
	Max     string `json:"max"`
}

// configProblems are the lines check reports with exit status 2: every
// problem of the configuration, then every misspelt variable name.
func configProblems(err error, misses []pools.NearMiss) []string {
	var lines []string
	if err != nil {
		lines = strings.Split(err.Error(), "\n")
	}
	for _, m := range misses {
		lines = append(lines, "pools: "+m.String()+" Its value is ignored.")
	}
	return lines
}

// printNotes writes, on stderr, what a valid configuration does that its
// author may not expect.
func printNotes(w io.Writer, cfg pools.Config) {
	if !cfg.TLSVerified() && usesTLS(cfg) {
		fmt.Fprintln(w, "poolscope check: warning: TLS certificate verification is off (REDIS_TLS_INSECURE_SKIP_VERIFY): TLS certificates of the Redis servers are NOT verified; anyone on the path can read and change the traffic")
	}
	if cfg.LocalFollowsDefault() {
		fmt.Fprintf(w, "poolscope check: note: the local pool uses its default address %s (REDIS_LOCAL_URL is not set), while the replica and async pools follow REDIS_MASTER_URL\n",
			cfg.Local.RedactedURL())
	}
}

func usesTLS(cfg pools.Config) bool {
	for _, r := range pools.Roles {
		if cfg.Role(r).TLS() {
			return true
		}
	}
	return false
}

// printOrigins writes where each pool's values came from, below the table.
func printOrigins(w io.Writer, cfg pools.Config, views []*poolView) {
	fmt.Fprintf(w, "\nservice %s (from %s)\n\nWhere each value came from:\n", pools.SanitizeService(cfg.Service), cfg.ServiceOrigin)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tENABLED\tMIN\tMAX\tADDRESS")
	for _, v := range views {
		o := v.Origins
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Role, o.Enabled, o.MinIdle, o.Max, o.URL)
	}
	_ = tw.Flush()
}
