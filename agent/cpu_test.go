package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
// its main-thread states grow while the server runs a script that spins.
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
	// About 300ms of the server's main thread, by its own clock.
	const spin = `local t0 = redis.call('TIME') local t = t0
while (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) < 300000 do t = redis.call('TIME') end return 1`
	if err := s.Admin().Eval(ctx, spin, nil).Err(); err != nil {
		t.Fatal(err)
	}
	var after float64
	redistest.Eventually(t, waitFor, func() error {
		var err error
		if after, err = mainThreadCPU(ta.collect(t), s); err != nil {
			return err
		}
		// A loaded machine may give the spinning thread less than the
		// wall time; it still gets a good part of it.
		if after-before < 0.1 {
			return fmt.Errorf("main-thread CPU %.3fs -> %.3fs, want at least 0.1s more after a 0.3s spin", before, after)
		}
		return nil
	})
	t.Logf("main-thread CPU %.3fs -> %.3fs across a 0.3s spin", before, after)
}

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
