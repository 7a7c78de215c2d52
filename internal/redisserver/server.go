package redisserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstallHint is the command that installs the Redis binaries this package
// runs. Errors about a missing binary carry it so that a failing test says
// how to fix the machine instead of skipping.
const InstallHint = "apt-get install -y --no-install-recommends redis-server redis-sentinel redis-tools (or run: make deps)"

// ErrNotInstalled is wrapped by Start when redis-server is not on PATH.
var ErrNotInstalled = errors.New("redisserver: redis-server not found in PATH; install it with: " + InstallHint)

// startTimeout bounds how long a fresh server may take to answer PING. A
// loaded 2-core CI machine starts redis-server in well under a second; the
// margin is for -race builds running many packages in parallel.
const startTimeout = 15 * time.Second

// User is an ACL user created at start-up.
type User struct {
	Name     string
	Password string
	// Rules are ACL SETUSER rules, for example "~* &* +@all" or
	// "-@all +info +client|list +ping". "on" and the password are added.
	Rules string
}

// Options describe the server to start. The zero value is a plain
// standalone server on a free loopback port with persistence off.
type Options struct {
	// Password sets requirepass (the default user's password).
	Password string
	// Users are extra ACL users.
	Users []User
	// TLS serves only TLS on the port, with certificates generated in Go.
	TLS bool
	// ReplicaOf makes this server a replica of another one.
	ReplicaOf *Server
	// MaxClients sets maxclients when non-zero.
	MaxClients int
	// UnixSocket also listens on a unix socket in the server's directory.
	UnixSocket bool
	// NetNS runs the server inside the named network namespace (made with
	// `ip netns add`; needs root), and the harness's own connections dial
	// from inside it (plain TCP, not with TLS). Host must then be an address
	// of that namespace.
	NetNS string
	// Host is the address the server binds (default 127.0.0.1).
	Host string
	// Args are extra redis-server arguments, for example "--loglevel", "debug".
	Args []string

	// cluster keeps the port at most maxClusterPort (StartCluster).
	cluster bool
}

// Server is one running redis-server process.
type Server struct {
	// Host and Port are where the server listens (loopback unless
	// Options.Host says otherwise).
	Host string
	Port int
	// Dir is the server's own temporary directory (logs, sockets, certs).
	Dir string
	// Socket is the unix socket path when Options.UnixSocket was set.
	Socket string
	// TLS holds the generated certificates when Options.TLS was set.
	TLS *TLSFiles

	opts Options

	mu    sync.Mutex
	admin *redis.Client // opened lazily; survives restarts (go-redis redials)
	cmd   *exec.Cmd
	// exited is closed when the current process has been waited for.
	exited chan struct{}
}

// Start starts a redis-server on a free loopback port and waits until it
// answers PING. The caller must Close it.
func Start(opts Options) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "poolscope-redis-")
	if err != nil {
		return nil, fmt.Errorf("redisserver: temp dir: %w", err)
	}
	s := &Server{Host: "127.0.0.1", Dir: dir, opts: opts}
	if opts.Host != "" {
		s.Host = opts.Host
	}
	if opts.TLS {
		if s.TLS, err = GenerateTLS(dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if opts.UnixSocket {
		s.Socket = filepath.Join(dir, "redis.sock")
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind; retry a few times with a new port.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if s.Port, err = s.freePort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if lastErr = s.launch(); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// freePort is FreePort, at most maxClusterPort for a cluster node.
func (s *Server) freePort() (int, error) {
	for {
		p, err := FreePort()
		if err != nil || !s.opts.cluster || p <= maxClusterPort {
			return p, err
		}
	}
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redisserver: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) args() []string {
	port := strconv.Itoa(s.Port)
	a := []string{
		"--bind", s.Host,
		"--save", "",
		"--appendonly", "no",
		"--dir", s.Dir,
		"--logfile", s.LogFile(),
		"--daemonize", "no",
		"--protected-mode", "no",
	}
	if s.TLS != nil {
		a = append(a, "--port", "0", "--tls-port", port,
			"--tls-cert-file", s.TLS.ServerCertFile,
			"--tls-key-file", s.TLS.ServerKeyFile,
			"--tls-ca-cert-file", s.TLS.CAFile,
			"--tls-auth-clients", "optional",
			"--tls-replication", "yes")
	} else {
		a = append(a, "--port", port)
	}
	if s.Socket != "" {
		a = append(a, "--unixsocket", s.Socket, "--unixsocketperm", "700")
	}
	if s.opts.Password != "" {
		a = append(a, "--requirepass", s.opts.Password)
	}
	if s.opts.MaxClients > 0 {
		a = append(a, "--maxclients", strconv.Itoa(s.opts.MaxClients))
	}
	if r := s.opts.ReplicaOf; r != nil {
		a = append(a, "--replicaof", r.Host, strconv.Itoa(r.Port))
		if r.opts.Password != "" {
			a = append(a, "--masterauth", r.opts.Password)
		}
	}
	for _, u := range s.opts.Users {
		// redis-server joins the words after --user into one ACL line.
		a = append(a, "--user", u.Name, "on", ">"+u.Password)
		a = append(a, strings.Fields(u.Rules)...)
	}
	return append(a, s.opts.Args...)
}

// LogFile is the server's log file, useful in failure messages.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "redis.log") }

func (s *Server) launch() error {
	if s.opts.NetNS != "" {
		return s.launchCmd(exec.Command("ip", append([]string{"netns", "exec", s.opts.NetNS, "redis-server"}, s.args()...)...), s.Ping)
	}
	return s.launchCmd(exec.Command("redis-server", s.args()...), s.Ping)
}

func (s *Server) launchCmd(cmd *exec.Cmd, ready func(context.Context) error) error {
	// Pdeathsig: a test binary that dies must not leave servers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redisserver: start: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		// A plain TCP dial first keeps go-redis from logging refused dials.
		err := s.reachable()
		if err == nil {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			err = ready(pctx)
			pcancel()
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redisserver: server on port %d exited at start: %s", s.Port, s.tailLog())
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("redisserver: server on port %d not ready after %s: %v: %s", s.Port, startTimeout, err, s.tailLog())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) reachable() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	dial := (&net.Dialer{}).DialContext
	if s.opts.NetNS != "" {
		dial = netnsDialer(s.opts.NetNS)
	}
	c, err := dial(ctx, "tcp", s.Addr())
	if err != nil {
		return err
	}
	return c.Close()
}

func (s *Server) tailLog() string {
	b, _ := os.ReadFile(s.LogFile())
	return lastLines(string(b), 5)
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL is a redis:// (or rediss://) URL for the default user, database 0.
func (s *Server) URL() string { return s.URLFor("", s.opts.Password) }

// URLFor is a URL that authenticates as user (empty: default user).
func (s *Server) URLFor(user, password string) string {
	scheme := "redis"
	if s.TLS != nil {
		scheme = "rediss"
	}
	auth := ""
	switch {
	case user != "":
		auth = user + ":" + password + "@"
	case password != "":
		auth = ":" + password + "@"
	}
	return fmt.Sprintf("%s://%s%s/0", scheme, auth, s.Addr())
}

// ClientOptions are go-redis options for an admin connection to the server.
func (s *Server) ClientOptions() *redis.Options {
	o := &redis.Options{
		Addr:         s.Addr(),
		Password:     s.opts.Password,
		ClientName:   adminClientName,
		DialTimeout:  time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolSize:     2,
		MaxRetries:   -1,
	}
	if s.TLS != nil {
		o.TLSConfig = s.TLS.ClientConfig()
	}
	if s.opts.NetNS != "" {
		o.Dialer = netnsDialer(s.opts.NetNS)
	}
	return o
}

// Client opens a new admin client. The caller closes it.
func (s *Server) Client() *redis.Client { return redis.NewClient(s.ClientOptions()) }

// Ping dials a fresh connection and sends PING.
func (s *Server) Ping(ctx context.Context) error {
	c := s.Client()
	defer c.Close()
	return c.Ping(ctx).Err()
}

// Stop shuts the server down with SIGTERM and waits for it to exit.
// The port and directory are kept, so Restart can bring it back.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		s.kill()
		return fmt.Errorf("redisserver: server on port %d ignored %v for 10s; killed", s.Port, sig)
	}
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the server again on the same port after Stop or Kill.
func (s *Server) Restart() error {
	_ = s.Stop()
	var err error
	// The old socket may linger briefly in the kernel; retry the bind.
	deadline := time.Now().Add(startTimeout)
	for {
		if err = s.launch(); err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Pid is the server's process id (0 when stopped).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Admin is the harness's own long-lived connection to the server.
func (s *Server) Admin() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		s.admin = s.Client()
	}
	return s.admin
}

// Pause runs CLIENT PAUSE for d (mode ALL), making the server look slow.
// Redis 7.0 holds every command during an ALL pause, CLIENT UNPAUSE
// included, so a pause cannot be ended early: choose d accordingly.
func (s *Server) Pause(ctx context.Context, d time.Duration) error {
	return s.Admin().Do(ctx, "CLIENT", "PAUSE", d.Milliseconds(), "ALL").Err()
}

// adminClientName names the harness's own connections (Admin).
const adminClientName = "poolscope-test-admin"

// ClientsByName counts the server's connections per client name from
// CLIENT LIST. Connections without a name count under "". The admin
// connection used for the query is left out.
func (s *Server) ClientsByName(ctx context.Context) (map[string]int, error) {
	list, err := s.Admin().ClientList(ctx).Result()
	if err != nil {
		return nil, err
	}
	counts := CountByName(list)
	delete(counts, adminClientName)
	return counts, nil
}

// CountByName counts the connections of a CLIENT LIST reply per client
// name, every connection included; unnamed ones count under "".
func CountByName(list string) map[string]int {
	counts := map[string]int{}
	for _, line := range strings.Split(list, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name := ""
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "name="); ok {
				name = v
			}
		}
		counts[name]++
	}
	return counts
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	s.kill()
	s.mu.Lock()
	if s.admin != nil {
		_ = s.admin.Close()
		s.admin = nil
	}
	s.mu.Unlock()
	return os.RemoveAll(s.Dir)
}

// ClientTLSConfig is a client TLS configuration trusting the generated CA.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.TLS == nil {
		return nil
	}
	return s.TLS.ClientConfig()
}
