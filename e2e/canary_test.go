package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// canaryCore is the part of every canary credential that survives every
// encoding (it is letters and digits only): grepping for it finds the raw
// value, its URL-encoded forms and a partial copy alike.
const canaryCore = "K7f3a9Qz"

// Canary credentials. The password holds characters that URL encoding
// changes, so that an encoded copy differs from the raw one.
var (
	canaryPassword = "pw/" + canaryCore + "@:+"
	canaryAgentPW  = "agent/" + canaryCore + "@:+"
	canaryToken    = "tok " + canaryCore + "=/"
)

// canaryForms are the forms of the canaries that must appear nowhere.
func canaryForms() []string {
	var forms []string
	for _, c := range []string{canaryPassword, canaryAgentPW, canaryToken} {
		forms = append(forms, c, url.QueryEscape(c), url.PathEscape(c), url.UserPassword("u", c).String(),
			base64.StdEncoding.EncodeToString([]byte(c)))
	}
	return append(forms, canaryCore)
}

// capture is a named output of the end-to-end run.
type capture struct {
	mu      sync.Mutex
	outputs map[string]*redistest.Buffer
	bodies  map[string]string
}

func (c *capture) buffer(name string) *redistest.Buffer {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &redistest.Buffer{}
	c.outputs[name] = b
	return b
}

func (c *capture) body(name, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodies[name] = s
}

// TestCanaryAppearsNowhere places canary credentials in every credential
// input (the application's REDIS_*_URL passwords for an ACL user, the agent's
// --redis password for its least-privilege ACL user, a bearer token in
// OTEL_EXPORTER_OTLP_HEADERS), runs the whole path (the application with
// pools, instrument and exporters pushing OTLP to the real collector and
// serving Prometheus and console output; `poolscope agent --log-level
// debug` exporting to the same collector, whose debug exporter prints every
// data point; `poolscope check` in text and JSON, connected, with the right
// and a wrong password; every --help), then looks for the canaries and their
// encoded forms in every log line, metric, label, error message and output.
func TestCanaryAppearsNowhere(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{Users: []redisserver.User{
		{Name: "app", Password: canaryPassword, Rules: "~* &* +@all"},
		// The agent's documented least-privilege ACL.
		{Name: "agent", Password: canaryAgentPW, Rules: "-@all +hello +info +client|list +client|setname +client|id"},
	}})
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := harness.BuildPoolscope(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	collector, err := harness.StartCollector(harness.CollectorOptions{Dir: t.TempDir(), Set: []string{
		"exporters::debug::verbosity=detailed", "exporters::debug::sampling_initial=1000000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = collector.Stop() })

	appURL := "redis://app:" + url.QueryEscape(canaryPassword) + "@" + s.Addr() + "/0"
	wrongURL := "redis://app:" + url.QueryEscape(canaryPassword+"-wrong") + "@" + s.Addr() + "/0"
	agentURL := "redis://agent:" + url.QueryEscape(canaryAgentPW) + "@" + s.Addr() + "/0"
	vars := map[string]string{
		"REDIS_MASTER_URL": appURL, "REDIS_SLAVE_URL": appURL, "REDIS_LOCAL_URL": appURL, "REDIS_ASYNC_URL": appURL,
		"OTEL_SERVICE_NAME":           "canary-app",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + collector.OTLPHTTP,
		"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Bearer%20" + url.PathEscape(canaryToken),
		"OTEL_METRIC_EXPORT_INTERVAL": "500",
		"REDIS_HEALTH_CHECK_INTERVAL": "200ms",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	wrongVars := map[string]string{}
	for k, v := range vars {
		if strings.HasPrefix(k, "REDIS_") && strings.HasSuffix(k, "_URL") {
			v = wrongURL
		}
		wrongVars[k] = v
	}
	wrong := func(k string) (string, bool) { v, ok := wrongVars[k]; return v, ok }
	cap := &capture{outputs: map[string]*redistest.Buffer{}, bodies: map[string]string{}}

	// Whatever the OpenTelemetry SDK reports.
	otelErrors := cap.buffer("otel.Handle")
	previous := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { fmt.Fprintln(otelErrors, err) }))
	t.Cleanup(func() { otel.SetErrorHandler(previous) })

	// The application.
	ctx := redistest.Context(t, 2*time.Minute)
	appLogBuffer := cap.buffer("application log")
	appLog := slog.New(slog.NewTextHandler(appLogBuffer, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pc, err := pools.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pools.New(pc, pools.WithLogger(appLog))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	appVars := map[string]string{"OTEL_METRICS_EXPORTER": "otlp,prometheus,console"}
	pipeline, err := exporters.New(ctx,
		exporters.WithLookup(func(k string) (string, bool) {
			if v, ok := appVars[k]; ok {
				return v, true
			}
			return lookup(k)
		}),
		exporters.WithPrometheusAddr("127.0.0.1:0"),
		exporters.WithConsoleWriter(cap.buffer("console exporter")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pipeline.Shutdown(context.Background()) })
	inst, err := instrument.New(p, instrument.WithMeterProvider(pipeline.MeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	for _, r := range pools.Roles {
		if err := p.Client(r).Set(ctx, "canary:"+string(r), "v", 0).Err(); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	// A second application with a wrong password: its pools log their
	// failing health checks and dials.
	wrongCfg, err := pools.LoadConfig(wrong)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pools.New(wrongCfg, pools.WithLogger(appLog))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pw.Close() })
	if err := pw.Master().Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("PING with the wrong password: %v, want WRONGPASS", err)
	} else {
		fmt.Fprintln(appLogBuffer, "PING error:", err)
	}
	redistest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(appLogBuffer.String(), "WRONGPASS") {
			return errors.New("the wrong password's health check failure is not logged yet")
		}
		return nil
	})

	// The agent: once with --redis, once from the REDIS_* variables, at
	// debug level, exporting to the collector.
	stopAgentFlag := startCanaryAgent(t, bin, cap.buffer("agent --redis stderr"), vars, "--redis", agentURL, "--self", "--discover", "--interval", "200ms", "--log-level", "debug")
	stopAgentEnv := startCanaryAgent(t, bin, cap.buffer("agent from REDIS_* stderr"), vars, "--self", "--interval", "200ms", "--log-level", "debug", "--log-format", "json")

	// check, every way, and every --help.
	for _, args := range [][]string{
		{"check"}, {"check", "--json"}, {"check", "--connect"}, {"check", "--connect", "--json"},
		{"help"}, {"check", "--help"}, {"agent", "--help"}, {"demo", "--help"}, {"nosuch", appURL}, {"check", appURL},
		{"agent", "--redis", agentURL, "--interval", "1ms"},
	} {
		code, stdout, stderr := runCanary(t, bin, vars, args...)
		name := strings.NewReplacer(appURL, "APP_URL", agentURL, "AGENT_URL").Replace(strings.Join(args, " "))
		cap.buffer(name + " stdout").Write([]byte(stdout))
		cap.buffer(name + " stderr").Write([]byte(stderr))
		if strings.Contains(args[0], "check") && len(args) > 1 && args[1] == "--connect" && code != 0 {
			t.Errorf("%v: exit %d:\n%s%s", args, code, stdout, stderr)
		}
	}
	for _, args := range [][]string{{"check", "--connect"}, {"check", "--connect", "--json"}} {
		code, stdout, stderr := runCanary(t, bin, wrongVars, args...)
		cap.buffer(strings.Join(args, " ") + " wrong password stdout").Write([]byte(stdout))
		cap.buffer(strings.Join(args, " ") + " wrong password stderr").Write([]byte(stderr))
		if code != 1 || !strings.Contains(stdout, "WRONGPASS") {
			t.Errorf("%v with a wrong password: exit %d, want 1 and WRONGPASS:\n%s%s", args, code, stdout, stderr)
		}
	}

	// Everything has reached the collector: the application's and both
	// agents' metrics, with their data points printed by the debug exporter.
	redistest.Eventually(t, 30*time.Second, func() error {
		body, err := collector.Scrape(ctx)
		if err != nil {
			return err
		}
		for _, want := range []string{`db_client_connection_count{`, `job="canary-app"`, `poolscope_redis_up{`, `poolscope_server_connections{`, `redis_client_name="canary-app:master:`} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("collector /metrics lacks %s", want)
			}
		}
		cap.body("collector /metrics", body)
		out, err := collector.ReadOutput()
		if err != nil {
			return err
		}
		if !strings.Contains(out, "db.client.connection.count") || !strings.Contains(out, "poolscope.process.redis.connections") {
			return fmt.Errorf("the collector's debug output lacks the data points (%d bytes)", len(out))
		}
		cap.body("collector debug output", out)
		return nil
	})
	cap.body("application /metrics", redistest.Scrape(t, "http://"+pipeline.PrometheusAddr()+"/metrics"))
	names, err := s.ClientsByName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nameList []string
	for n := range names {
		nameList = append(nameList, n)
	}
	cap.body("CLIENT LIST names", strings.Join(nameList, "\n"))

	stopAgentFlag()
	stopAgentEnv()
	_ = inst.Close()
	_ = pipeline.Shutdown(ctx) // flushes the console exporter
	_ = collector.Stop()
	out, _ := collector.ReadOutput()
	cap.body("collector debug output", out)

	// The search.
	cap.mu.Lock()
	defer cap.mu.Unlock()
	all := map[string]string{}
	for name, b := range cap.outputs {
		all[name] = b.String()
	}
	for name, body := range cap.bodies {
		all[name] = body
	}
	var names2 []string
	total := 0
	for name, text := range all {
		names2 = append(names2, name)
		total += len(text)
		for _, form := range canaryForms() {
			if i := strings.Index(text, form); i >= 0 {
				t.Errorf("%s shows the canary (as %q): ...%s...", name, form, text[max(0, i-200):min(len(text), i+len(form)+100)])
			}
		}
	}
	sort.Strings(names2)
	t.Logf("searched %d bytes in %d outputs: %s", total, len(all), strings.Join(names2, "; "))
	for _, must := range []string{"application log", "agent --redis stderr", "console exporter", "collector debug output", "application /metrics"} {
		if len(all[must]) == 0 {
			t.Errorf("%s is empty: the search proves nothing there", must)
		}
	}
}

// canaryEnv is the environment of a poolscope process in the canary test:
// vars and nothing else, so that no variable of the test's own environment
// (a REDIS_* of the developer's shell) takes part, plus PATH.
func canaryEnv(vars map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// runCanary runs one poolscope command and returns its exit code and output.
func runCanary(t *testing.T, bin string, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = canaryEnv(vars)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &exit) && exit.Exited():
		return exit.ExitCode(), out.String(), errOut.String()
	default:
		t.Fatalf("poolscope %v: %v", args, err)
		return -1, "", ""
	}
}

// startCanaryAgent runs `poolscope agent` until the returned function is
// called, which stops it with SIGTERM and checks that it exits 0.
func startCanaryAgent(t *testing.T, bin string, output io.Writer, vars map[string]string, args ...string) func() {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"agent"}, args...)...)
	cmd.Env = canaryEnv(vars)
	cmd.Stdout, cmd.Stderr = output, output
	agent, err := harness.Start("agent", cmd, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := agent.StopWithin(15 * time.Second); err != nil {
			t.Errorf("agent %v still running 15s after SIGTERM", args)
		} else if err := agent.ExitErr(); err != nil {
			t.Errorf("agent %v: %v", args, err)
		}
	}
	t.Cleanup(stop)
	return stop
}
