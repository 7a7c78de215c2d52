package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

// Generous: the tests share two cores with other packages' tests.
const waitFor = 20 * time.Second

// testAgent is an agent wired to a ManualReader.
type testAgent struct {
	*Agent
	reader *sdkmetric.ManualReader
	logs   *redistest.Buffer
}

func startAgent(t *testing.T, opts ...Option) *testAgent {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	logs := &redistest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]Option{WithMeterProvider(mp), WithLogger(logger), WithInterval(100 * time.Millisecond),
		WithMaxBackoff(400 * time.Millisecond)}, opts...)
	a, err := Start(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	return &testAgent{Agent: a, reader: reader, logs: logs}
}

// point is one exported data point, reduced to what the tests compare.
type point struct {
	attrs   attribute.Set
	value   int64
	seconds float64 // a float64 point's value (redis.cpu.time)
}

func (p point) str(k attribute.Key) string {
	v, _ := p.attrs.Value(k)
	return v.Emit()
}

func (p point) int(k attribute.Key) int64 {
	v, _ := p.attrs.Value(k)
	return v.AsInt64()
}

// collect reads every point, by metric name.
func (ta *testAgent) collect(t *testing.T) map[string][]point {
	t.Helper()
	m, err := ta.points()
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return m
}

// points is collect for callers outside the test's goroutine.
func (ta *testAgent) points() (map[string][]point, error) {
	var rm metricdata.ResourceMetrics
	if err := ta.reader.Collect(context.Background(), &rm); err != nil {
		return nil, err
	}
	out := map[string][]point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var dps []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				dps = d.DataPoints
			case metricdata.Gauge[int64]:
				dps = d.DataPoints
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{attrs: dp.Attributes, value: int64(dp.Count)})
				}
				continue
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{attrs: dp.Attributes, seconds: dp.Value})
				}
				continue
			}
			for _, dp := range dps {
				out[m.Name] = append(out[m.Name], point{attrs: dp.Attributes, value: dp.Value})
			}
		}
	}
	return out, nil
}

// byAttr picks the points whose attribute k has value v (compared as
// emitted text).
func byAttr(ps []point, k attribute.Key, v string) []point {
	var out []point
	for _, p := range ps {
		if p.str(k) == v {
			out = append(out, p)
		}
	}
	return out
}

// groups maps redis.client.name to the connection count of
// poolscope.server.connections.
func groups(ps []point) map[string]int64 {
	out := map[string]int64{}
	for _, p := range ps {
		out[p.str(attrClientName)] = p.value
	}
	return out
}

func unixURL(s *redisserver.Server) string { return "unix://" + s.Socket }

func TestDiscoverFindsHelperConnections(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{UnixSocket: true})
	h := startHelper(t, "3="+s.URL(), "2="+unixURL(s))
	ta := startAgent(t, WithDiscover(), WithDiscoverEvery(1), WithRedis(s.URL(), unixURL(s)))

	pid := strconv.Itoa(h.pid)
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		conns := byAttr(m[metricProcessConnections], attrProcessPID, pid)
		got := map[string]int64{}
		for _, p := range conns {
			got[p.str(attrServerAddress)] = p.value
		}
		want := map[string]int64{s.Host: 3, s.Socket: 2}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("helper's connections by server = %v, want %v", got, want)
		}
		for _, p := range conns {
			if p.str(attrServerAddress) == s.Host && p.int(attrServerPort) != int64(s.Port) {
				return fmt.Errorf("server.port = %d, want %d", p.int(attrServerPort), s.Port)
			}
			if exe := p.str(attrExecutableName); exe == "" {
				return errors.New("process.executable.name is empty")
			}
		}
		// The agent's own connections are the test process's only ones:
		// discovery must not select it.
		if self := byAttr(m[metricMemoryUsage], attrProcessPID, strconv.Itoa(os.Getpid())); len(self) != 0 {
			return errors.New("the agent's own process was discovered through its own connections")
		}
		return nil
	})
}

func TestExportedRSSMatchesStatm(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	h := startHelper(t, "1="+s.URL())
	ta := startAgent(t, WithPIDs(h.pid), WithRedis(s.URL()))

	redistest.Eventually(t, waitFor, func() error { return memoryMatchesStatm(ta.collect(t), h.pid) })
}

// memoryMatchesStatm compares the agent's RSS and VMS for pid with
// /proc/PID/statm as the calling process sees it (in its PID namespace).
func memoryMatchesStatm(m map[string][]point, pid int) error {
	rss := byAttr(m[metricMemoryUsage], attrProcessPID, strconv.Itoa(pid))
	vms := byAttr(m[metricMemoryVirtual], attrProcessPID, strconv.Itoa(pid))
	if len(rss) != 1 || len(vms) != 1 {
		return fmt.Errorf("memory points for pid %d: rss %d, vms %d; want 1 each", pid, len(rss), len(vms))
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return err
	}
	f := strings.Fields(string(b))
	size, _ := strconv.ParseInt(f[0], 10, 64)
	resident, _ := strconv.ParseInt(f[1], 10, 64)
	pageSize := int64(os.Getpagesize())
	// The helper is idle, but the Go runtime may still touch a page or
	// two between the agent's read and ours.
	if d := abs(rss[0].value - resident*pageSize); d > max(resident*pageSize/20, 256<<10) {
		return fmt.Errorf("exported RSS %d, statm says %d", rss[0].value, resident*pageSize)
	}
	if d := abs(vms[0].value - size*pageSize); d > max(size*pageSize/20, 1<<20) {
		return fmt.Errorf("exported VMS %d, statm says %d", vms[0].value, size*pageSize)
	}
	return nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestClientListGroupsMatchServer(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, time.Minute)
	h := startHelper(t, "3="+s.URL())
	hold := func(name string, n int) {
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), ClientName: name, PoolSize: n})
		t.Cleanup(func() { _ = c.Close() })
		for range n {
			conn := c.Conn()
			if err := conn.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
		}
	}
	hold("legacy-worker", 2)
	hold("", 1)
	ta := startAgent(t, WithRedis(s.URL()))

	helperName := pools.ClientName("svc", pools.Master, h.pid)
	redistest.Eventually(t, waitFor, func() error {
		server, err := s.ClientsByName(ctx) // leaves the harness's admin connection out
		if err != nil {
			return err
		}
		m := ta.collect(t)
		got := groups(m[metricServerConnections])
		delete(got, "poolscope-test-admin")
		for name, n := range got {
			if n == 0 {
				delete(got, name) // gone from the server, reported at 0 for a while
			}
		}
		want := map[string]int64{}
		for name, n := range server {
			want[name] = int64(n)
		}
		delete(want, ClientName) // the server sees the agent; the agent leaves itself out
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("groups = %v, CLIENT LIST says %v", got, want)
		}
		if want[helperName] != 3 || want["legacy-worker"] != 2 || want[""] != 1 {
			return fmt.Errorf("server sees %v, want the helper's 3, legacy-worker 2 and 1 unnamed", want)
		}
		for _, p := range m[metricServerConnections] {
			name := p.str(attrClientName)
			wantService, wantRole, wantPID := "", "", ""
			if name == helperName {
				wantService, wantRole, wantPID = "svc", "master", strconv.Itoa(h.pid)
			}
			if p.str(attrClientService) != wantService || p.str(attrClientRole) != wantRole || p.str(attrClientPID) != wantPID {
				return fmt.Errorf("group %q: service/role/pid = %q/%q/%q, want %q/%q/%q", name,
					p.str(attrClientService), p.str(attrClientRole), p.str(attrClientPID), wantService, wantRole, wantPID)
			}
			if p.str(attrServerAddress) != s.Host || p.int(attrServerPort) != int64(s.Port) {
				return fmt.Errorf("group %q: server %s:%d", name, p.str(attrServerAddress), p.int(attrServerPort))
			}
		}
		if len(m[metricConnectionAgeMax]) != len(m[metricServerConnections]) || len(m[metricConnectionIdleMax]) != len(m[metricServerConnections]) {
			return fmt.Errorf("%d age and %d idle series for %d groups", len(m[metricConnectionAgeMax]), len(m[metricConnectionIdleMax]), len(m[metricServerConnections]))
		}
		// INFO agrees: every connection but the agent's.
		var total int64
		for _, n := range groups(m[metricServerConnections]) {
			total += n
		}
		if c := m[metricClientsConnected]; len(c) != 1 || c[0].value != total {
			return fmt.Errorf("redis.clients.connected = %v, want %d (the groups' sum)", c, total)
		}
		if d := m[metricClientListDuration]; len(d) != 1 || d[0].value == 0 {
			return fmt.Errorf("client_list.duration = %v, want one series with a count", d)
		}
		return nil
	})
}

func TestOwnConnectionLeftOut(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, time.Minute)
	ta := startAgent(t, WithRedis(s.URL()))
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		if c := m[metricClientsConnected]; len(c) != 1 || c[0].value != 0 {
			return fmt.Errorf("redis.clients.connected = %v, want 0 (only the agent is connected)", c)
		}
		if g := m[metricServerConnections]; len(g) != 0 {
			return fmt.Errorf("groups = %v, want none", groups(g))
		}
		return nil
	})
	// The agent holds one connection (PoolSize 1). Polled: a pass that
	// times out on a loaded machine closes it, and the next pass dials
	// again, so the server may see none for a moment.
	redistest.Eventually(t, waitFor, func() error {
		server, err := s.ClientsByName(ctx)
		if err != nil {
			return err
		}
		if server[ClientName] != 1 {
			return fmt.Errorf("the server sees %v, want one %q connection", server, ClientName)
		}
		return nil
	})
	// The harness's admin connection is now open: it is counted, the
	// agent's still is not.
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		if g := groups(m[metricServerConnections]); fmt.Sprint(g) != "map[poolscope-test-admin:1]" {
			return fmt.Errorf("groups = %v, want only the admin connection", g)
		}
		return nil
	})
}

func TestKilledProcessDisappears(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	h := startHelper(t, "2="+s.URL())
	ta := startAgent(t, WithDiscover(), WithDiscoverEvery(3), WithRedis(s.URL()), WithPSS())
	pid := strconv.Itoa(h.pid)
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		for _, name := range []string{metricMemoryUsage, metricMemoryVirtual, metricMemoryPSS, metricProcessConnections} {
			if len(byAttr(m[name], attrProcessPID, pid)) == 0 {
				return fmt.Errorf("no %s for the helper yet", name)
			}
		}
		return nil
	})
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		for name, ps := range m {
			if len(byAttr(ps, attrProcessPID, pid)) != 0 {
				return fmt.Errorf("%s still reports the killed process", name)
			}
		}
		return nil
	})
}

func TestServerDownAndBack(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ta := startAgent(t, WithSelf(), WithRedis(s.URL()))
	up := func(want int64) func() error {
		return func() error {
			m := ta.collect(t)
			if u := m[metricUp]; len(u) != 1 || u[0].value != want {
				return fmt.Errorf("poolscope.redis.up = %v, want %d", u, want)
			}
			if want == 0 && len(m[metricClientsConnected]) != 0 {
				return errors.New("redis.clients.connected still reported for a server that is down")
			}
			if want == 1 && len(m[metricClientsConnected]) != 1 {
				return errors.New("redis.clients.connected missing")
			}
			// Process sampling goes on whatever the server does.
			if len(byAttr(m[metricMemoryUsage], attrProcessPID, strconv.Itoa(os.Getpid()))) != 1 {
				return errors.New("the agent's own memory is not reported")
			}
			return nil
		}
	}
	redistest.Eventually(t, waitFor, up(1))
	// The outage's log lines are the ones after the stop: a pass that
	// timed out (1 s) on a loaded machine before it would be logged, and
	// resolved, on its own.
	before := len(ta.logs.String())
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, waitFor, up(0))
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, waitFor, up(1))
	logs := ta.logs.String()[before:]
	if n := strings.Count(logs, "Redis server not answering"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "Redis server answering again") {
		t.Errorf("the recovery was not logged:\n%s", logs)
	}
}

func TestTopNamesBound(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, time.Minute)
	for i := range 60 {
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), ClientName: fmt.Sprintf("app-%02d", i), PoolSize: 1})
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ta := startAgent(t, WithRedis(s.URL()), WithTopNames(50))
	redistest.Eventually(t, waitFor, func() error {
		g := groups(ta.collect(t)[metricServerConnections])
		if len(g) != 51 {
			return fmt.Errorf("%d series, want 51 (50 names + other): %v", len(g), g)
		}
		// Equal counts: the names sort, so app-00..app-49 keep their own.
		if g[otherName] != 10 || g["app-49"] != 1 || g["app-50"] != 0 {
			return fmt.Errorf("other = %d, app-49 = %d, app-50 = %d; want 10, 1, absent", g[otherName], g["app-49"], g["app-50"])
		}
		return nil
	})
}

func TestClientListSkippedAboveThreshold(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, time.Minute)
	for i := range 10 {
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), ClientName: fmt.Sprintf("busy-%d", i)})
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ta := startAgent(t, WithRedis(s.URL()), WithClientListMaxClients(5))
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		skipped := m[metricClientListSkipped]
		if len(skipped) != 1 || skipped[0].value < 3 {
			return fmt.Errorf("client_list.skipped = %v, want one series >= 3", skipped)
		}
		if skipped[0].str(attrServerAddress) != s.Host {
			return fmt.Errorf("skipped counter attributes %v", skipped[0].attrs.ToSlice())
		}
		if len(m[metricServerConnections]) != 0 || len(m[metricClientListDuration]) != 0 {
			return errors.New("CLIENT LIST ran although the server is above the threshold")
		}
		if c := m[metricClientsConnected]; len(c) != 1 || c[0].value != 10 {
			return fmt.Errorf("redis.clients.connected = %v, want 10", c)
		}
		return nil
	})
	if n := strings.Count(ta.logs.String(), "CLIENT LIST skipped"); n != 1 {
		t.Errorf("the skip was logged %d times, want once", n)
	}
}

func TestINFOFieldsReported(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{MaxClients: 123})
	ta := startAgent(t, WithRedis(s.URL()))
	redistest.Eventually(t, waitFor, func() error {
		m := ta.collect(t)
		for name, check := range map[string]func(int64) bool{
			metricClientsMax:     func(v int64) bool { return v == 123 },
			metricClientsBlocked: func(v int64) bool { return v == 0 },
			metricConnsReceived:  func(v int64) bool { return v >= 1 },
			metricConnsRejected:  func(v int64) bool { return v == 0 },
		} {
			if ps := m[name]; len(ps) != 1 || !check(ps[0].value) {
				return fmt.Errorf("%s = %v", name, ps)
			}
		}
		return nil
	})
}

func TestStartCloseLeavesNoGoroutines(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{UnixSocket: true})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	reader := sdkmetric.NewManualReader()
	a, err := Start(context.Background(), WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		WithSelf(), WithDiscover(), WithRedis(s.URL(), unixURL(s)), WithInterval(50*time.Millisecond),
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, waitFor, func() error {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			return err
		}
		if len(rm.ScopeMetrics) == 0 || len(rm.ScopeMetrics[0].Metrics) < 5 {
			return errors.New("not sampled yet")
		}
		return nil
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			// The synchronous instruments keep their cumulative totals for
			// the MeterProvider's lifetime; no observation may outlive Close.
			if m.Name != metricClientListDuration && m.Name != metricClientListSkipped {
				t.Errorf("after Close: %s still reported", m.Name)
			}
		}
	}
}

func TestStartRejectsBadURLsWithoutSecrets(t *testing.T) {
	_, err := Start(context.Background(), WithRedis("redis://:hunter2@127.0.0.1:99999/0", "http://x", "redis://:pw@127.0.0.1:6379/0"))
	if err == nil {
		t.Fatal("Start accepted bad URLs")
	}
	msg := err.Error()
	for _, want := range []string{`"redis://***@127.0.0.1:99999/0": port "99999" out of range`, `"http://x": unsupported scheme "http"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error shows the password: %q", msg)
	}
	if _, err := Start(context.Background()); err == nil {
		t.Error("Start with nothing to sample succeeded")
	}
}

func TestDuplicateServersWatchedOnce(t *testing.T) {
	a := &Agent{cfg: newConfig([]Option{
		WithRedis("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/3"),
		WithPoolsConfig(pools.DefaultConfig()),
	}), logger: slog.New(slog.DiscardHandler)}
	if err := a.addServers(); err != nil {
		t.Fatal(err)
	}
	if len(a.serverList()) != 1 {
		var got []string
		for _, s := range a.serverList() {
			got = append(got, s.display)
		}
		t.Fatalf("servers = %v, want one", got)
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 10 * time.Second} {
		got := backoff(time.Second, 10*time.Second, n)
		if got < want*9/10 || got > want*11/10 {
			t.Errorf("backoff after %d failures = %s, want %s +-10%%", n, got, want)
		}
	}
}

func TestGroupNamedOtherAbsorbsTheRest(t *testing.T) {
	var entries []clientEntry
	for i, name := range []string{"a", "a", "a", "other", "other", "b", "c"} {
		entries = append(entries, clientEntry{id: int64(i + 1), name: name, age: int64(i), idle: 1})
	}
	got := groupClients(entries, 0, 2)
	names := make([]string, len(got))
	for i, g := range got {
		names[i] = fmt.Sprintf("%s=%d", g.name, g.count)
	}
	if !slices.Equal(names, []string{"a=3", "other=4"}) {
		t.Fatalf("groups = %v, want [a=3 other=4]", names)
	}
}

// A client name that leaves the server is reported at 0 for a while
// instead of just ending: behind a collector, a series that ends keeps its
// last value until the exporter's metric_expiration.
func TestVanishedGroupGoesToZero(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, time.Minute)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), ClientName: "short-lived"})
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, WithRedis(s.URL()))
	count := func() (int64, bool) {
		n, ok := groups(ta.collect(t)[metricServerConnections])["short-lived"]
		return n, ok
	}
	redistest.Eventually(t, waitFor, func() error {
		if n, _ := count(); n != 1 {
			return fmt.Errorf("short-lived = %d, want 1", n)
		}
		return nil
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, waitFor, func() error {
		if n, ok := count(); !ok || n != 0 {
			return fmt.Errorf("short-lived = %d (reported: %v), want 0 and still reported", n, ok)
		}
		return nil
	})
}

// The skip counter is there, at 0, before any skip, so that a dashboard
// shows 0 rather than no data.
func TestClientListSkippedStartsAtZero(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ta := startAgent(t, WithRedis(s.URL()))
	redistest.Eventually(t, waitFor, func() error {
		skipped := ta.collect(t)[metricClientListSkipped]
		if len(skipped) != 1 || skipped[0].value != 0 {
			return fmt.Errorf("client_list.skipped = %v, want one series at 0", skipped)
		}
		return nil
	})
}
