package pools

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Role is what a pool is for. Its string is the pool name that metrics,
// client names and `poolscope check` use.
type Role string

// The four roles, in the order poolscope lists them.
const (
	Master  Role = "master"  // writes
	Replica Role = "replica" // reads (REDIS_SLAVE_* variables)
	Local   Role = "local"   // a server on the same host, often a unix socket
	Async   Role = "async"   // background work; keeps MIN connections open
)

// Roles lists every role in display order.
var Roles = []Role{Master, Replica, Local, Async}

// Defaults for the variables in the package documentation.
const (
	DefaultURL                 = "redis://127.0.0.1:6379/0"
	DefaultMasterSize          = 10
	DefaultReplicaSize         = 20
	DefaultLocalSize           = 5
	DefaultAsyncMin            = 5
	DefaultAsyncMax            = 20
	DefaultPoolTimeout         = 4 * time.Second // go-redis's own: ReadTimeout (3s) + 1s
	DefaultIdleTimeout         = 5 * time.Minute
	DefaultMaxLifetime         = 30 * time.Minute
	DefaultHealthCheckInterval = 10 * time.Second

	// MaxPoolSize bounds every size variable. Redis's own default maxclients
	// is 10000; a single process asking for more is a typo, not a plan.
	MaxPoolSize = 10000
	// maxHealthCheckTimeout caps the PING timeout of a health check; a
	// shorter interval shortens it to the interval.
	maxHealthCheckTimeout = time.Second
)

// RoleConfig is the effective configuration of one role's pool.
type RoleConfig struct {
	Role    Role
	Enabled bool
	// URL is where the pool connects. It may carry credentials: print
	// RedactedURL, never URL.
	URL string
	// MinIdle connections are dialled at start and kept open (async only).
	MinIdle int
	// Max is the hard cap on the pool's connections when Enabled.
	Max int
	// ViaSentinel is true when the pool follows Sentinel instead of URL's host.
	ViaSentinel bool
}

// RedactedURL is URL with any password replaced by ***.
func (rc RoleConfig) RedactedURL() string { return RedactURL(rc.URL) }

// TLS reports whether the pool's connections use TLS.
func (rc RoleConfig) TLS() bool { return strings.HasPrefix(rc.URL, "rediss://") }

// TLSConfig holds the REDIS_TLS_* variables.
type TLSConfig struct {
	CAFile, CertFile, KeyFile string
	ServerName                string
	InsecureSkipVerify        bool
}

// SentinelConfig holds the REDIS_SENTINEL_* variables.
type SentinelConfig struct {
	Addrs      []string
	MasterName string
	// Password authenticates to the Sentinels. Never print it.
	Password string
}

// Enabled reports whether the master and replica pools follow Sentinel.
func (s SentinelConfig) Enabled() bool { return len(s.Addrs) > 0 }

// Config is everything pools/ reads from the environment.
type Config struct {
	// Service names the process in client names (OTEL_SERVICE_NAME, else
	// the executable's name).
	Service  string
	Master   RoleConfig
	Replica  RoleConfig
	Local    RoleConfig
	Async    RoleConfig
	TLS      TLSConfig
	Sentinel SentinelConfig

	PoolTimeout         time.Duration
	IdleTimeout         time.Duration // 0: never reap idle connections
	MaxLifetime         time.Duration // 0: never recycle
	HealthCheckInterval time.Duration
	// HealthCheckTimeout bounds one health-check PING. Zero means the
	// interval, capped at one second (no variable sets it; programs such as
	// `poolscope check --timeout` do).
	HealthCheckTimeout time.Duration

	tlsConfig *tls.Config // built from TLS by LoadConfig
}

// Role returns the configuration of one role.
func (c *Config) Role(r Role) *RoleConfig {
	switch r {
	case Master:
		return &c.Master
	case Replica:
		return &c.Replica
	case Local:
		return &c.Local
	case Async:
		return &c.Async
	}
	return nil
}

// healthCheckTimeout is HealthCheckTimeout with its default applied.
func (c *Config) healthCheckTimeout() time.Duration {
	if c.HealthCheckTimeout > 0 {
		return c.HealthCheckTimeout
	}
	return min(c.HealthCheckInterval, maxHealthCheckTimeout)
}

// DefaultConfig is the configuration of an empty environment.
func DefaultConfig() Config {
	return Config{
		Service:             defaultService(),
		Master:              RoleConfig{Role: Master, Enabled: true, URL: DefaultURL, Max: DefaultMasterSize},
		Replica:             RoleConfig{Role: Replica, Enabled: true, URL: DefaultURL, Max: DefaultReplicaSize},
		Local:               RoleConfig{Role: Local, Enabled: true, URL: DefaultURL, Max: DefaultLocalSize},
		Async:               RoleConfig{Role: Async, Enabled: true, URL: DefaultURL, MinIdle: DefaultAsyncMin, Max: DefaultAsyncMax},
		PoolTimeout:         DefaultPoolTimeout,
		IdleTimeout:         DefaultIdleTimeout,
		MaxLifetime:         DefaultMaxLifetime,
		HealthCheckInterval: DefaultHealthCheckInterval,
	}
}

func defaultService() string {
	exe, err := os.Executable()
	if err != nil {
		return "poolscope"
	}
	return filepath.Base(exe)
}

// ConfigFromEnv reads the process environment.
func ConfigFromEnv() (Config, error) { return LoadConfig(os.LookupEnv) }

// LoadConfig reads the configuration through lookup (os.LookupEnv in
// production). It reports every problem at once, each naming the variable
// and the value it got, with credentials redacted.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	e := &envReader{lookup: lookup}

	if v, ok := e.get("OTEL_SERVICE_NAME"); ok && v != "" {
		c.Service = v
	}

	e.flag(&c.Master.Enabled, "REDIS_MASTER_POOL_ENABLED")
	e.size(&c.Master.Max, 1, "REDIS_MASTER_POOL_SIZE")
	e.flag(&c.Replica.Enabled, "REDIS_SLAVE_POOL_ENABLED", "REDIS_REPLICA_POOL_ENABLED")
	e.size(&c.Replica.Max, 1, "REDIS_SLAVE_POOL_SIZE", "REDIS_REPLICA_POOL_SIZE")
	e.flag(&c.Local.Enabled, "REDIS_LOCAL_POOL_ENABLED")
	e.size(&c.Local.Max, 1, "REDIS_LOCAL_POOL_SIZE")
	e.flag(&c.Async.Enabled, "REDIS_ASYNC_POOL_ENABLED")
	e.size(&c.Async.MinIdle, 0, "REDIS_ASYNC_POOL_MIN")
	e.size(&c.Async.Max, 1, "REDIS_ASYNC_POOL_MAX")
	if c.Async.MinIdle > c.Async.Max {
		e.fail("REDIS_ASYNC_POOL_MIN=%q is larger than REDIS_ASYNC_POOL_MAX=%q", strconv.Itoa(c.Async.MinIdle), strconv.Itoa(c.Async.Max))
	}

	masterSet := e.url(&c.Master.URL, "REDIS_MASTER_URL")
	c.Replica.URL, c.Async.URL = c.Master.URL, c.Master.URL
	replicaSet := e.url(&c.Replica.URL, "REDIS_SLAVE_URL", "REDIS_REPLICA_URL")
	e.url(&c.Local.URL, "REDIS_LOCAL_URL")
	asyncSet := e.url(&c.Async.URL, "REDIS_ASYNC_URL")

	e.duration(&c.PoolTimeout, false, "REDIS_POOL_TIMEOUT")
	e.duration(&c.IdleTimeout, true, "REDIS_POOL_IDLE_TIMEOUT")
	e.duration(&c.MaxLifetime, true, "REDIS_POOL_MAX_LIFETIME")
	e.duration(&c.HealthCheckInterval, false, "REDIS_HEALTH_CHECK_INTERVAL")

	e.sentinel(&c.Sentinel)
	if c.Sentinel.Enabled() {
		c.Master.ViaSentinel = true
		if !replicaSet {
			c.Replica.ViaSentinel = true
		}
		if !asyncSet {
			c.Async.ViaSentinel = true
		}
		if masterSet && strings.HasPrefix(c.Master.URL, "unix://") {
			e.fail("REDIS_MASTER_URL=%q: a unix socket cannot be combined with REDIS_SENTINEL_ADDRS", RedactURL(c.Master.URL))
		}
	}

	e.tls(&c)
	return c, e.err()
}

// envReader collects every problem instead of stopping at the first.
type envReader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (e *envReader) fail(format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("pools: "+format, args...))
}

func (e *envReader) err() error { return errors.Join(e.errs...) }

func (e *envReader) get(name string) (string, bool) { return e.lookup(name) }

// first returns the value of the first set variable among names (a name
// and its aliases). Aliases set to a different value are an error.
func (e *envReader) first(names ...string) (name, value string, ok bool) {
	for _, n := range names {
		v, set := e.lookup(n)
		if !set {
			continue
		}
		if !ok {
			name, value, ok = n, v, true
			continue
		}
		if v != value {
			e.fail("%s=%q and %s=%q disagree; set one of them", name, redactIfURL(value), n, redactIfURL(v))
		}
	}
	return name, value, ok
}

func (e *envReader) flag(dst *bool, names ...string) {
	name, v, ok := e.first(names...)
	if !ok {
		return
	}
	switch strings.ToLower(v) {
	case "1", "true":
		*dst = true
	case "0", "false":
		*dst = false
	default:
		e.fail("%s=%q: not a flag (want 1, 0, true or false)", name, v)
	}
}

func (e *envReader) size(dst *int, lowest int, names ...string) {
	name, v, ok := e.first(names...)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil && lowest == 0:
		e.fail("%s=%q: not a whole number >= 0", name, v)
	case err != nil:
		e.fail("%s=%q: not a positive integer", name, v)
	case n < lowest || n > MaxPoolSize:
		e.fail("%s=%q: out of range (want %d to %d)", name, v, lowest, MaxPoolSize)
	default:
		*dst = n
	}
}

func (e *envReader) duration(dst *time.Duration, zeroOK bool, name string) {
	v, ok := e.lookup(name)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		e.fail("%s=%q: not a duration (for example 500ms, 5s, 10m)", name, v)
	case d < 0 || (d == 0 && !zeroOK):
		if zeroOK {
			e.fail("%s=%q: must be 0 (off) or positive", name, v)
		} else {
			e.fail("%s=%q: must be positive", name, v)
		}
	case d > 24*time.Hour:
		e.fail("%s=%q: longer than 24h", name, v)
	case d > 0 && d < time.Millisecond:
		e.fail("%s=%q: shorter than 1ms", name, v)
	default:
		*dst = d
	}
}

// url reads a connection URL; it reports whether the variable was set.
func (e *envReader) url(dst *string, names ...string) bool {
	name, v, ok := e.first(names...)
	if !ok {
		return false
	}
	if err := checkURL(v); err != nil {
		e.fail("%s=%q: %v", name, RedactURL(v), err)
		return true
	}
	*dst = v
	return true
}

// checkURL validates a redis://, rediss:// or unix:// URL. Its errors never
// quote the URL, since it may carry a password.
func checkURL(v string) error {
	if v == "" {
		return errors.New("empty (want redis://host:port/db, rediss://... or unix:///path)")
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return errors.New("contains white space")
	}
	scheme, _, found := strings.Cut(v, "://")
	if !found {
		return errors.New("not a URL (want redis://host:port/db, rediss://... or unix:///path)")
	}
	switch scheme {
	case "redis", "rediss", "unix":
	default:
		return fmt.Errorf("unsupported scheme %q (want redis, rediss or unix)", scheme)
	}
	o, err := redis.ParseURL(v)
	if err != nil {
		// go-redis and net/url quote the whole URL in some errors: do not
		// pass their text on.
		return errors.New("not a valid Redis URL")
	}
	if o.Network == "tcp" {
		host, port, err := net.SplitHostPort(o.Addr)
		if err != nil || host == "" {
			return errors.New("no host")
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("port %q out of range", port)
		}
	}
	return nil
}

func (e *envReader) sentinel(s *SentinelConfig) {
	addrs, addrsSet := e.lookup("REDIS_SENTINEL_ADDRS")
	master, masterSet := e.lookup("REDIS_SENTINEL_MASTER")
	if pw, ok := e.lookup("REDIS_SENTINEL_PASSWORD"); ok {
		if pw == "" {
			e.fail("REDIS_SENTINEL_PASSWORD is set but empty")
		}
		if !addrsSet {
			e.fail("REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINEL_ADDRS")
		}
		s.Password = pw
	}
	if !addrsSet && !masterSet {
		return
	}
	if addrsSet && !masterSet {
		e.fail("REDIS_SENTINEL_ADDRS=%q is set without REDIS_SENTINEL_MASTER", addrs)
	}
	if masterSet && !addrsSet {
		e.fail("REDIS_SENTINEL_MASTER=%q is set without REDIS_SENTINEL_ADDRS", master)
	}
	if masterSet {
		if master == "" || strings.ContainsAny(master, " \t\r\n") {
			e.fail("REDIS_SENTINEL_MASTER=%q: not a master name", master)
		}
		s.MasterName = master
	}
	if !addrsSet {
		return
	}
	if addrs == "" {
		e.fail("REDIS_SENTINEL_ADDRS=%q: empty (want host:port[,host:port...])", addrs)
	}
	for _, a := range strings.Split(addrs, ",") {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			e.fail("REDIS_SENTINEL_ADDRS=%q: %q is not host:port", addrs, a)
			continue
		}
		s.Addrs = append(s.Addrs, a)
	}
}

func (e *envReader) tls(c *Config) {
	t := &c.TLS
	files := []struct {
		dst  *string
		name string
	}{{&t.CAFile, "REDIS_TLS_CA_FILE"}, {&t.CertFile, "REDIS_TLS_CERT_FILE"}, {&t.KeyFile, "REDIS_TLS_KEY_FILE"}}
	for _, f := range files {
		if v, ok := e.lookup(f.name); ok {
			if v == "" {
				e.fail("%s is set but empty (want a path to a PEM file)", f.name)
			}
			*f.dst = v
		}
	}
	if v, ok := e.lookup("REDIS_TLS_SERVER_NAME"); ok {
		if v == "" || strings.ContainsAny(v, " \t\r\n/:@") {
			e.fail("REDIS_TLS_SERVER_NAME=%q: not a host name", v)
		}
		t.ServerName = v
	}
	e.flag(&t.InsecureSkipVerify, "REDIS_TLS_INSECURE_SKIP_VERIFY")

	if !c.usesTLS() {
		for _, f := range files {
			if *f.dst != "" {
				e.fail("%s=%q is set but no REDIS_*_URL uses rediss://", f.name, *f.dst)
			}
		}
		return
	}
	cfg, errs := buildTLSConfig(*t)
	e.errs = append(e.errs, errs...)
	c.tlsConfig = cfg
}

// ClientConfig builds the client TLS settings from the REDIS_TLS_*
// variables: the CA bundle (system roots when unset), the client
// certificate, the server name and InsecureSkipVerify; TLS 1.2 at least.
// Errors name the variable and the file, never a file's contents. The
// agent and any other program that dials the pools' servers itself use it
// to verify them the same way.
func (t TLSConfig) ClientConfig() (*tls.Config, error) {
	cfg, errs := buildTLSConfig(t)
	return cfg, errors.Join(errs...)
}

// TLSClientConfig is the TLS configuration the pools dial rediss:// URLs
// with (c.TLS.ClientConfig(), already loaded when c came from LoadConfig).
// The result is a copy the caller may change. The server name is empty
// unless REDIS_TLS_SERVER_NAME is set: set it to the host being dialled.
func (c Config) TLSClientConfig() (*tls.Config, error) {
	if c.tlsConfig != nil {
		return c.tlsConfig.Clone(), nil
	}
	return c.TLS.ClientConfig()
}

// buildTLSConfig loads the CA and client certificate files. Verification
// stays on unless InsecureSkipVerify.
func buildTLSConfig(t TLSConfig) (*tls.Config, []error) {
	var errs []error
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("pools: REDIS_TLS_CA_FILE=%q: %v", t.CAFile, pathError(err)))
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("pools: REDIS_TLS_CA_FILE=%q: no PEM certificate in the file", t.CAFile))
			}
			cfg.RootCAs = pool
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		errs = append(errs, fmt.Errorf("pools: REDIS_TLS_CERT_FILE=%q is set without REDIS_TLS_KEY_FILE", t.CertFile))
	case t.KeyFile != "" && t.CertFile == "":
		errs = append(errs, fmt.Errorf("pools: REDIS_TLS_KEY_FILE=%q is set without REDIS_TLS_CERT_FILE", t.KeyFile))
	case t.CertFile != "":
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("pools: REDIS_TLS_CERT_FILE=%q, REDIS_TLS_KEY_FILE=%q: %v", t.CertFile, t.KeyFile, pathError(err)))
		} else {
			cfg.Certificates = []tls.Certificate{pair}
		}
	}
	return cfg, errs
}

// pathError drops the path from an *os.PathError: the message already
// quotes the variable's value.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func redactIfURL(v string) string {
	if strings.Contains(v, "://") {
		return RedactURL(v)
	}
	return v
}

// RedactURL hides the credentials of a URL: "redis://user:pw@h:1/0" becomes
// "redis://user:***@h:1/0", "redis://pw@h" becomes "redis://***@h", and the
// value of a query parameter whose name suggests a secret (password, token,
// auth, key...) becomes ***. It works on strings that do not parse, so that
// an error about a malformed URL cannot leak its password.
func RedactURL(raw string) string {
	scheme, rest, found := strings.Cut(raw, "://")
	if !found {
		// Not a URL at all; a lone "@" still suggests credentials.
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			return "***" + raw[at:]
		}
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		user, _, hasPassword := strings.Cut(rest[:at], ":")
		redacted := "***"
		if hasPassword && user != "" {
			redacted = user + ":***"
		}
		rest = redacted + rest[at:]
	}
	return scheme + "://" + redactQuery(rest)
}

// plainURLOptions are the query parameters go-redis's ParseURL reads
// (v9.23), none of them a credential.
var plainURLOptions = map[string]bool{
	"client_name": true, "conn_max_idle_time": true, "conn_max_lifetime": true, "conn_max_lifetime_jitter": true,
	"db": true, "dial_timeout": true, "idle_timeout": true, "max_active_conns": true, "max_concurrent_dials": true,
	"max_conn_age": true, "max_idle_conns": true, "max_retries": true, "max_retry_backoff": true,
	"min_idle_conns": true, "min_retry_backoff": true, "pipeline_pool_size": true,
	"pipeline_read_buffer_size": true, "pipeline_write_buffer_size": true, "pool_fifo": true,
	"pool_size": true, "pool_timeout": true, "protocol": true, "read_timeout": true,
	"skip_verify": true, "write_timeout": true,
}

// redactQuery masks query values in "host/path?query#frag": every value
// but those of go-redis's own URL options, which hold no secret. Masking by
// what a name looks like is not enough: a misspelt "?pasword=" is exactly
// the value a user did not mean to show.
func redactQuery(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	query, frag, hasFrag := strings.Cut(s[q+1:], "#")
	params := strings.Split(query, "&")
	for i, kv := range params {
		k, _, hasValue := strings.Cut(kv, "=")
		if hasValue && !plainURLOptions[strings.ToLower(k)] {
			params[i] = k + "=***"
		}
	}
	out := s[:q+1] + strings.Join(params, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}
