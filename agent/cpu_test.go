package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// INFO cpu: every used_cpu_* field is read as seconds; the main-thread ones
// (Redis 6.2+) are left out when absent, and a bad value is left out and
// reported, the other fields kept.
func TestParseInfoCPU(t *testing.T) {
	const clients = "connected_clients:1\r\n"
	const before62 = "# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.125\r\n"
	all := uint8(1<<numCPUStates - 1)
	mainThread := uint8(1<<2 | 1<<5)
	tests := []struct {
		name    string
		reply   string
		cpu     [numCPUStates]float64
		have    uint8
		wantErr string
	}{
		{name: "before 6.2: no main thread", reply: clients + before62,
			cpu: [numCPUStates]float64{1.5, 0, 0, 2.25, 0.125, 0}, have: all &^ mainThread},
		{name: "6.2+", reply: clients + before62 + "used_cpu_sys_main_thread:1.25\r\nused_cpu_user_main_thread:2\r\n",
			cpu: [numCPUStates]float64{1.5, 0, 1.25, 2.25, 0.125, 2}, have: all},
		{name: "no cpu section", reply: clients},
		{name: "not a number", reply: clients + "used_cpu_user_main_thread:busy\r\nused_cpu_sys:3\r\n",
			cpu: [numCPUStates]float64{3}, have: 1, wantErr: `used_cpu_user_main_thread="busy": not a number of seconds >= 0`},
		{name: "negative", reply: clients + "used_cpu_sys:-0.5\r\n", wantErr: `used_cpu_sys="-0.5"`},
		{name: "infinite", reply: clients + "used_cpu_user:+Inf\r\n", wantErr: `used_cpu_user="+Inf"`},
		{name: "NaN", reply: clients + "used_cpu_user:NaN\r\n", wantErr: `used_cpu_user="NaN"`},
		{name: "empty", reply: clients + "used_cpu_sys_children:\r\n", wantErr: `used_cpu_sys_children=""`},
		{name: "later bad value drops the earlier", reply: clients + "used_cpu_sys:1\r\nused_cpu_sys:x\r\n", wantErr: `used_cpu_sys="x"`},
		{name: "unknown cpu field ignored", reply: clients + "used_cpu_everything:9\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseInfoWant(t, tc.reply, tc.wantErr)
			if got.cpu != tc.cpu || got.cpuHave != tc.have || got.connected != 1 {
				t.Fatalf("parseInfo = %+v, want cpu %v have %06b", got, tc.cpu, tc.have)
			}
		})
	}
}

// redis.cpu.time is exported per state with the server's attributes, and
// its main-thread states grow by what the server's main thread spent
// spinning in a script, by the server's own count.
func TestCPUTimeReported(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, time.Minute)
	ta := startAgent(t, WithRedis(s.URL()))
	var before float64
	redistest.Eventually(t, waitFor, func() error {
		var err error
		before, err = mainThreadCPU(ta.collect(t), s)
		return err
	})
	// The script may run for seconds on a loaded machine: longer than the
	// admin client's read timeout.
	o := s.ClientOptions()
	o.ReadTimeout = 10 * time.Second
	spinner := redis.NewClient(o)
	defer spinner.Close()
	spun, err := spinner.Eval(ctx, spinCPU, nil).Float64()
	if err != nil {
		t.Fatal(err)
	}
	if spun <= 0 {
		t.Fatalf("the script's spin used %.6fs of the main thread's CPU by the server's INFO", spun)
	}
	var after float64
	redistest.Eventually(t, waitFor, func() error {
		var err error
		if after, err = mainThreadCPU(ta.collect(t), s); err != nil {
			return err
		}
		// The agent's reading before the spin is at most the server's at
		// its start, its reading after at least the server's at its end.
		if after-before < spun-1e-6 {
			return fmt.Errorf("main-thread CPU %.3fs -> %.3fs, want at least the %.3fs the spin used", before, after, spun)
		}
		return nil
	})
	t.Logf("main-thread CPU %.3fs -> %.3fs across a spin of %.3fs", before, after, spun)
}

// spinCPU keeps the server's main thread busy until its CPU time, by its
// own INFO cpu, has grown by 0.3 s, and returns the growth. It counts CPU
// time, not wall time: on a loaded machine a wall-clock spin gets a
// fraction of its time on a core (0.3 s of wall time gave 0.17 s of CPU
// at load 8; 0.3 s of CPU took 0.96 s of wall time at load 10). At most
// 4 s of wall time, under lua-time-limit (5 s).
const spinCPU = `local function cpu()
  local info = redis.call('INFO', 'cpu')
  return tonumber(string.match(info, 'used_cpu_sys_main_thread:([%d.]+)')) +
         tonumber(string.match(info, 'used_cpu_user_main_thread:([%d.]+)'))
end
local c0, t0 = cpu(), redis.call('TIME')
local c = c0
repeat
  c = cpu()
until c - c0 >= 0.3 or redis.call('TIME')[1] - t0[1] >= 4
return tostring(c - c0)`

// mainThreadCPU checks that redis.cpu.time has the six states of a 7.0
// server, each once, with the server's attributes and a value >= 0, and
// returns the sum of the main-thread states.
func mainThreadCPU(m map[string][]point, s *redisserver.Server) (float64, error) {
	ps := m[metricCPUTime]
	if len(ps) != numCPUStates {
		return 0, fmt.Errorf("%s has %d series, want %d: %v", metricCPUTime, len(ps), numCPUStates, ps)
	}
	var sum float64
	for _, c := range cpuStates {
		got := byAttr(ps, attrCPUState, c.state)
		if len(got) != 1 {
			return 0, fmt.Errorf("%s{state=%q}: %d series", metricCPUTime, c.state, len(got))
		}
		p := got[0]
		if p.str(attrServerAddress) != s.Host || p.int(attrServerPort) != int64(s.Port) || p.str(attrRedisRole) != "master" || p.seconds < 0 {
			return 0, fmt.Errorf("%s{state=%q}: %v = %v", metricCPUTime, c.state, p.attrs.ToSlice(), p.seconds)
		}
		if strings.HasSuffix(c.state, "_main_thread") {
			sum += p.seconds
		}
	}
	return sum, nil
}
