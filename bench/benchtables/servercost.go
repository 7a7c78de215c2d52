package benchtables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poolscope/poolscope/e2e/harness"
	"github.com/poolscope/poolscope/internal/redisserver"
)

// ServerImpactConfig describes a server-impact run.
type ServerImpactConfig struct {
	// Sizes are the numbers of idle connected clients, ascending or not.
	Sizes []int
	// Window is how long the agent runs at its defaults at each size. The
	// window starts just after the agent's first pass; at the default 10 s
	// interval, 65 s holds passes 1 to 6, so the CLIENT LIST of the "every
	// 6th pass" schedule (1000 to 5000 clients), at pass 6, falls inside.
	Window time.Duration
	// Calls is the number of forced CLIENT LIST calls timed at each size.
	Calls int
	// Poolscope is the poolscope binary.
	Poolscope string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// ServerImpactRow is one size. Two clocks measure the server:
// commandstats usec is wall time inside the command (on a loaded machine
// it includes time the server thread was not running), and CPU is the
// server's main-thread getrusage (INFO used_cpu_*_main_thread), which
// also counts writing the reply but not time spent descheduled. The
// shares use CPU.
type ServerImpactRow struct {
	Clients int // idle clients the bench opened (the server has a few more: the bench's admin connection)

	// Forced CLIENT LIST, Calls times in a row from the bench, then as
	// many INFO clients stats (the agent's per-pass command).
	Calls             int
	UsecPerCall       float64 // INFO commandstats usec_per_call of client|list
	CPUUsecPerCall    float64 // server main-thread CPU per CLIENT LIST, reply writing included
	WallUsecPerCall   float64 // wall time per CLIENT LIST at the bench, reply read included
	ReplyBytes        int
	InfoCPUUsecPerCal float64 // server main-thread CPU per INFO clients stats

	// The agent at its defaults for Window, from just after its first pass.
	Window          time.Duration
	Interval        time.Duration // the agent's default interval
	AgentPasses     int64         // INFO calls by the agent in the window
	AgentClientList int64         // CLIENT LIST calls by the agent in the window
	AgentUsec       float64       // commandstats usec of the agent's commands in the window
	ServerCPUUsec   float64       // server main-thread CPU in the window
}

// AgentCPUUsec is the server CPU the agent's commands took in the window:
// its calls times the CPU per call measured above.
func (r ServerImpactRow) AgentCPUUsec() float64 {
	return float64(r.AgentPasses)*r.InfoCPUUsecPerCal + float64(r.AgentClientList)*r.CPUUsecPerCall
}

// AgentThreadShare is the share of the server's main thread (of wall
// time) that the agent's commands take at its defaults.
func (r ServerImpactRow) AgentThreadShare() float64 {
	return r.AgentCPUUsec() / float64(r.Window.Microseconds())
}

// AgentServerShare is the agent's part of everything the server's main
// thread spent in the window (the rest is mostly its own housekeeping of
// idle clients).
func (r ServerImpactRow) AgentServerShare() float64 {
	if r.ServerCPUUsec <= 0 {
		return 0
	}
	return min(r.AgentCPUUsec()/r.ServerCPUUsec, 1)
}

// ForcedThreadShare is the share of the server's main thread that one
// INFO and one CLIENT LIST per pass take at the agent's default interval
// (--client-list-every 1 --client-list-max-clients above the size).
func (r ServerImpactRow) ForcedThreadShare() float64 {
	return (r.CPUUsecPerCall + r.InfoCPUUsecPerCal) / float64(r.Interval.Microseconds())
}

// agentDefaultInterval is `poolscope agent`'s default --interval; the
// server table runs the agent without flags beyond --redis.
const agentDefaultInterval = 10 * time.Second

// agentDefaultClientListMax is the agent's default
// --client-list-max-clients: above it, its passes skip CLIENT LIST.
const agentDefaultClientListMax = 5000

// ServerImpact opens idle clients to a redis-server of its own and, at each
// size, times forced CLIENT LIST calls and runs `poolscope agent` at its
// default settings for the window, reading INFO commandstats and the
// server's CPU (INFO cpu) before and after.
func ServerImpact(ctx context.Context, cfg ServerImpactConfig) ([]ServerImpactRow, error) {
	if cfg.Poolscope == "" {
		return nil, errors.New("benchtables: server impact needs the poolscope binary")
	}
	if cfg.Calls < 1 || cfg.Window <= 0 || len(cfg.Sizes) == 0 {
		return nil, fmt.Errorf("benchtables: calls %d, window %s, sizes %v: want at least one call, a positive window and one size", cfg.Calls, cfg.Window, cfg.Sizes)
	}
	sizes := slices.Sorted(slices.Values(cfg.Sizes))
	largest := sizes[len(sizes)-1]
	// The bench holds every client socket, redis-server one per client
	// plus its own (it inherits our limit): raise the soft limit to the
	// hard one when needed.
	if err := raiseNoFile(uint64(largest) + 256); err != nil {
		return nil, err
	}
	srv, err := redisserver.Start(redisserver.Options{MaxClients: largest + 64})
	if err != nil {
		return nil, err
	}
	defer srv.Close()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	var rows []ServerImpactRow
	for _, n := range sizes {
		logf(cfg.Log, "server impact: opening clients up to %d", n)
		more, err := openClients(ctx, srv.Addr(), len(conns), n-len(conns))
		conns = append(conns, more...)
		if err != nil {
			return rows, err
		}
		row, err := serverImpactAt(ctx, cfg, srv, n)
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func serverImpactAt(ctx context.Context, cfg ServerImpactConfig, srv *redisserver.Server, n int) (ServerImpactRow, error) {
	row := ServerImpactRow{Clients: n, Calls: cfg.Calls, Window: cfg.Window, Interval: agentDefaultInterval}
	admin := srv.Admin()
	if err := harness.Poll(ctx, time.Minute, func() error {
		s, err := readStats(ctx, srv)
		if err != nil {
			return err
		}
		if s.clients < int64(n) {
			return fmt.Errorf("server has %d clients, want %d", s.clients, n)
		}
		return nil
	}); err != nil {
		return row, fmt.Errorf("benchtables: %w", err)
	}

	// Forced CLIENT LIST from the bench. s0 -> s1 is one INFO of ours.
	s0, err := readStats(ctx, srv)
	if err != nil {
		return row, err
	}
	s1, err := readStats(ctx, srv)
	if err != nil {
		return row, err
	}
	// One INFO of ours (it is counted by the next one), in both clocks.
	ownInfo := s1.cmd["info"].usec - s0.cmd["info"].usec
	ownInfoCPU := max(s1.cpu-s0.cpu, 0)
	start := time.Now()
	for range cfg.Calls {
		list, err := admin.ClientList(ctx).Result()
		if err != nil {
			return row, fmt.Errorf("benchtables: CLIENT LIST at %d clients: %w", n, err)
		}
		row.ReplyBytes = len(list)
	}
	row.WallUsecPerCall = float64(time.Since(start).Microseconds()) / float64(cfg.Calls)
	s2, err := readStats(ctx, srv)
	if err != nil {
		return row, err
	}
	cl := s2.cmd["client|list"].sub(s1.cmd["client|list"])
	if cl.calls != int64(cfg.Calls) {
		return row, fmt.Errorf("benchtables: commandstats counted %d CLIENT LIST calls, the bench made %d", cl.calls, cfg.Calls)
	}
	row.UsecPerCall = cl.usec / float64(cl.calls)
	row.CPUUsecPerCall = max(s2.cpu-s1.cpu-ownInfoCPU, 0) / float64(cfg.Calls)
	for range cfg.Calls {
		if err := admin.Info(ctx, "clients", "stats").Err(); err != nil {
			return row, fmt.Errorf("benchtables: INFO clients stats at %d clients: %w", n, err)
		}
	}
	s3, err := readStats(ctx, srv)
	if err != nil {
		return row, err
	}
	row.InfoCPUUsecPerCal = max(s3.cpu-s2.cpu-ownInfoCPU, 0) / float64(cfg.Calls)

	// The agent at its defaults.
	logf(cfg.Log, "server impact: %d clients, agent at its defaults for %s", n, cfg.Window)
	agent, err := startChild(SamplerPoolscope, cfg.Poolscope,
		[]string{"agent", "--redis", srv.URL(), "--log-level", "warn"},
		[]string{"OTEL_METRICS_EXPORTER=none"})
	if err != nil {
		return row, err
	}
	defer func() { _ = agent.Stop() }()
	// The window starts once the agent's first pass is done: its INFO
	// clients stats, then (up to 5000 clients) its CLIENT LIST. Every
	// readStats is one INFO of ours, counted by the next one: s3's and
	// the polls' before the current one.
	polls := int64(0)
	if err := agent.WaitReady(ctx, time.Minute, func() error {
		s, err := readStats(ctx, srv)
		if err != nil {
			return err
		}
		polls++
		agentInfos := s.cmd["info"].calls - s3.cmd["info"].calls - polls
		agentLists := s.cmd["client|list"].calls - s3.cmd["client|list"].calls
		if agentInfos < 1 || (s.clients <= agentDefaultClientListMax && agentLists < 1) {
			return errNotYet
		}
		return nil
	}); err != nil {
		return row, fmt.Errorf("benchtables: the agent did not connect: %w\n%s", err, agent.LogTail(10))
	}
	w0, err := readStats(ctx, srv)
	if err != nil {
		return row, err
	}
	if err := measurementWindow(ctx, cfg.Window); err != nil {
		return row, err
	}
	w1, err := readStats(ctx, srv)
	if err != nil {
		return row, err
	}
	if err := agent.CheckRunning(); err != nil {
		return row, err
	}
	// Between w0 and w1 only the agent talks to the server, plus our INFO
	// at w0 (counted in w1).
	for name, c := range w1.cmd {
		d := c.sub(w0.cmd[name])
		row.AgentUsec += d.usec
		switch name {
		case "info":
			row.AgentPasses = d.calls - 1
		case "client|list":
			row.AgentClientList = d.calls
		}
	}
	// ownInfo is an estimate (one INFO of ours, timed earlier): in a window
	// with no agent command the difference can dip below zero.
	row.AgentUsec = max(row.AgentUsec-ownInfo, 0)
	row.ServerCPUUsec = w1.cpu - w0.cpu
	return row, nil
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct {
	calls int64
	usec  float64
}

func (a cmdStat) sub(b cmdStat) cmdStat { return cmdStat{a.calls - b.calls, a.usec - b.usec} }

// serverStats is what the table reads from one INFO.
type serverStats struct {
	clients int64              // connected_clients
	cpu     float64            // used_cpu_sys_main_thread + used_cpu_user_main_thread, microseconds
	cmd     map[string]cmdStat // by command name, "client|list"
}

// readStats runs one INFO clients commandstats cpu.
func readStats(ctx context.Context, srv *redisserver.Server) (serverStats, error) {
	text, err := srv.Admin().Info(ctx, "clients", "commandstats", "cpu").Result()
	if err != nil {
		return serverStats{}, fmt.Errorf("benchtables: INFO: %w", err)
	}
	return parseStats(text)
}

// parseStats parses the sections readStats asks for.
func parseStats(text string) (serverStats, error) {
	s := serverStats{cmd: map[string]cmdStat{}}
	var haveClients, haveCPU int
	for line := range strings.Lines(text) {
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch {
		case key == "connected_clients":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return s, fmt.Errorf("benchtables: INFO connected_clients=%q: %w", value, err)
			}
			s.clients, haveClients = n, 1
		case key == "used_cpu_sys_main_thread" || key == "used_cpu_user_main_thread":
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return s, fmt.Errorf("benchtables: INFO %s=%q: %w", key, value, err)
			}
			s.cpu += f * 1e6
			haveCPU++
		case strings.HasPrefix(key, "cmdstat_"):
			var c cmdStat
			for _, field := range strings.Split(value, ",") {
				k, v, _ := strings.Cut(field, "=")
				var err error
				switch k {
				case "calls":
					c.calls, err = strconv.ParseInt(v, 10, 64)
				case "usec":
					c.usec, err = strconv.ParseFloat(v, 64)
				}
				if err != nil {
					return s, fmt.Errorf("benchtables: INFO %s: %s=%q: %w", key, k, v, err)
				}
			}
			s.cmd[strings.TrimPrefix(key, "cmdstat_")] = c
		}
	}
	if haveClients == 0 || haveCPU != 2 {
		return s, errors.New("benchtables: INFO lacks connected_clients or used_cpu_*_main_thread (Redis 6.2 or newer needed)")
	}
	return s, nil
}

// openClients opens n idle connections, each named with CLIENT SETNAME
// like poolscope's pools name theirs ("service:role:pid", ten connections a
// pid). Raw sockets keep the bench's own cost per client to one fd.
func openClients(ctx context.Context, addr string, first, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	var d net.Dialer
	for i := first; i < first+n; i++ {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return conns, fmt.Errorf("benchtables: connection %d to %s: %w", i+1, addr, err)
		}
		conns = append(conns, c)
		name := "bench-app:master:" + strconv.Itoa(100000+i/10)
		cmd := fmt.Sprintf("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$%d\r\n%s\r\n", len(name), name)
		if _, err := io.WriteString(c, cmd); err != nil {
			return conns, fmt.Errorf("benchtables: CLIENT SETNAME on connection %d: %w", i+1, err)
		}
	}
	// Read the replies after sending every command: one round trip's worth
	// of waiting instead of n.
	reply := make([]byte, 5)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, reply); err != nil || string(reply) != "+OK\r\n" {
			return conns, fmt.Errorf("benchtables: CLIENT SETNAME on connection %d: reply %q, error %v", first+i+1, reply, err)
		}
		_ = c.SetReadDeadline(time.Time{})
	}
	return conns, nil
}

// raiseNoFile raises the soft RLIMIT_NOFILE to at least want (up to the
// hard limit), for this process and the redis-server it starts.
func raiseNoFile(want uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("benchtables: getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if l.Cur >= want {
		return nil
	}
	if l.Max < want {
		return fmt.Errorf("benchtables: %d clients need about %d open files, but the hard limit (ulimit -Hn) is %d: raise it or use smaller -sizes", want-256, want, l.Max)
	}
	l.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("benchtables: setrlimit(RLIMIT_NOFILE, %d): %w", want, err)
	}
	return nil
}

// PrintServerImpact prints the server-impact tables and, per size, a
// summary line:
//
//	server: clients=N client_list_cpu_usec=C client_list_usec=U agent_share_default=P% agent_share_forced=Q%
//
// C is the server CPU per CLIENT LIST, U its commandstats usec_per_call,
// P and Q the agent's share of the server's main thread at its defaults
// and with CLIENT LIST forced at every pass (both at the 10 s interval).
func PrintServerImpact(w io.Writer, rows []ServerImpactRow) {
	if len(rows) == 0 {
		return
	}
	r0 := rows[0]
	fmt.Fprintf(w, "server impact: idle named clients on one redis-server; %d forced CLIENT LIST calls and %d INFO clients stats per size (server main-thread CPU from INFO cpu; usec from INFO commandstats)\n\n",
		r0.Calls, r0.Calls)
	fmt.Fprintf(w, "%8s %10s %16s %16s %16s %16s\n", "clients", "reply KB", "CLIENT LIST CPU", "commandstats", "bench wall", "INFO CPU")
	for _, r := range rows {
		fmt.Fprintf(w, "%8d %10.1f %13.1f us %13.1f us %13.1f us %13.1f us\n",
			r.Clients, float64(r.ReplyBytes)/1024, r.CPUUsecPerCall, r.UsecPerCall, r.WallUsecPerCall, r.InfoCPUUsecPerCal)
	}
	fmt.Fprintf(w, "\npoolscope agent at its defaults (interval %s) for %s, from just after its first pass\n\n", r0.Interval, r0.Window)
	fmt.Fprintf(w, "%8s %7s %13s %14s %16s %14s %14s %14s\n",
		"clients", "passes", "CLIENT LISTs", "agent CPU us", "commandstats us", "share thread", "share server", "forced thread")
	for _, r := range rows {
		fmt.Fprintf(w, "%8d %7d %13d %14.0f %16.0f %13.4f%% %13.2f%% %13.4f%%\n",
			r.Clients, r.AgentPasses, r.AgentClientList, r.AgentCPUUsec(), r.AgentUsec,
			100*r.AgentThreadShare(), 100*r.AgentServerShare(), 100*r.ForcedThreadShare())
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "server: clients=%d client_list_cpu_usec=%.1f client_list_usec=%.1f agent_share_default=%.4f%% agent_share_forced=%.4f%%\n",
			r.Clients, r.CPUUsecPerCall, r.UsecPerCall, 100*r.AgentThreadShare(), 100*r.ForcedThreadShare())
	}
}
