package pools

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/poolscope/poolscope/internal/envvar"
	"github.com/poolscope/poolscope/internal/redisurl"
	"github.com/poolscope/poolscope/internal/servicename"
	"github.com/poolscope/poolscope/secret"
)

// ConfigFromEnv reads the process environment. Variables whose names are
// near-misses of poolscope's own (NearMisses) are remembered, and New logs
// a warning for each.
func ConfigFromEnv() (Config, error) {
	c, err := LoadConfig(os.LookupEnv)
	c.nearMisses = NearMisses(environNames(os.Environ()))
	return c, err
}

// LoadConfig reads the configuration through lookup (os.LookupEnv in
// production). It reports every problem at once, each naming the variable
// and the value it got, with credentials redacted.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	e := envvar.New("pools", lookup)
	readService(&c, lookup)
	readPools(e, &c)
	readURLs(e, &c)
	readTimeouts(e, &c)
	readSentinel(e, &c.Sentinel)
	followSentinel(e, &c)
	readTLS(e, &c)
	return c, e.Err()
}

// readService applies the service-name rule shared with exporters
// (internal/servicename).
func readService(c *Config, lookup func(string) (string, bool)) {
	name, from := servicename.Resolve(lookup, "")
	c.Service, c.ServiceOrigin = name, Origin(from)
}

// origin turns the name of the variable that set a value ("" for none)
// into an Origin, keeping the one already there when none did.
func origin(dst *Origin, name string) {
	if name != "" {
		*dst = Origin(name)
	}
}

func readPools(e *envvar.Reader, c *Config) {
	m, r, l, a := &c.Master, &c.Replica, &c.Local, &c.Async
	origin(&m.Origins.Enabled, e.Flag(&m.Enabled, "REDIS_MASTER_POOL_ENABLED"))
	origin(&m.Origins.Max, e.Int(&m.Max, 1, MaxPoolSize, "REDIS_MASTER_POOL_SIZE"))
	origin(&r.Origins.Enabled, e.Flag(&r.Enabled, "REDIS_SLAVE_POOL_ENABLED", "REDIS_REPLICA_POOL_ENABLED"))
	origin(&r.Origins.Max, e.Int(&r.Max, 1, MaxPoolSize, "REDIS_SLAVE_POOL_SIZE", "REDIS_REPLICA_POOL_SIZE"))
	origin(&l.Origins.Enabled, e.Flag(&l.Enabled, "REDIS_LOCAL_POOL_ENABLED"))
	origin(&l.Origins.Max, e.Int(&l.Max, 1, MaxPoolSize, "REDIS_LOCAL_POOL_SIZE"))
	origin(&a.Origins.Enabled, e.Flag(&a.Enabled, "REDIS_ASYNC_POOL_ENABLED"))
	origin(&a.Origins.MinIdle, e.Int(&a.MinIdle, 0, MaxPoolSize, "REDIS_ASYNC_POOL_MIN"))
	origin(&a.Origins.Max, e.Int(&a.Max, 1, MaxPoolSize, "REDIS_ASYNC_POOL_MAX"))
	if a.MinIdle > a.Max {
		e.Failf("REDIS_ASYNC_POOL_MIN=%q is larger than REDIS_ASYNC_POOL_MAX=%q", strconv.Itoa(a.MinIdle), strconv.Itoa(a.Max))
	}
}

// readURLs reads the four URLs. The replica and async pools follow the
// master URL unless their own variable is set; the local pool does not (it
// is meant for a server on this host).
func readURLs(e *envvar.Reader, c *Config) {
	if set := e.URL(&c.Master.URL, "REDIS_MASTER_URL"); set != "" {
		c.Master.Origins.URL = Origin(set)
		c.Replica.URL, c.Async.URL = c.Master.URL, c.Master.URL
		c.Replica.Origins.URL, c.Async.Origins.URL = "from "+Origin(set), "from "+Origin(set)
	}
	origin(&c.Replica.Origins.URL, e.URL(&c.Replica.URL, "REDIS_SLAVE_URL", "REDIS_REPLICA_URL"))
	origin(&c.Local.Origins.URL, e.URL(&c.Local.URL, "REDIS_LOCAL_URL"))
	origin(&c.Async.Origins.URL, e.URL(&c.Async.URL, "REDIS_ASYNC_URL"))
}

func readTimeouts(e *envvar.Reader, c *Config) {
	e.Duration(&c.PoolTimeout, false, "REDIS_POOL_TIMEOUT")
	e.Duration(&c.IdleTimeout, true, "REDIS_POOL_IDLE_TIMEOUT")
	e.Duration(&c.MaxLifetime, true, "REDIS_POOL_MAX_LIFETIME")
	e.Duration(&c.HealthCheckInterval, false, "REDIS_HEALTH_CHECK_INTERVAL")
}

// followSentinel points the master pool, and the replica and async pools
// unless their URL is set, at Sentinel.
func followSentinel(e *envvar.Reader, c *Config) {
	if !c.Sentinel.Enabled() {
		return
	}
	c.Master.ViaSentinel = true
	if !strings.HasPrefix(string(c.Replica.Origins.URL), "REDIS_") {
		c.Replica.ViaSentinel = true
	}
	if !strings.HasPrefix(string(c.Async.Origins.URL), "REDIS_") {
		c.Async.ViaSentinel = true
	}
	if c.Master.Origins.URL != OriginDefault && strings.HasPrefix(c.Master.URL, "unix://") {
		e.Failf("REDIS_MASTER_URL=%q: a unix socket cannot be combined with REDIS_SENTINEL_ADDRS", redisurl.Redact(c.Master.URL))
	}
}

func readSentinel(e *envvar.Reader, s *SentinelConfig) {
	addrs, addrsSet := e.Lookup("REDIS_SENTINEL_ADDRS")
	master, masterSet := e.Lookup("REDIS_SENTINEL_MASTER")
	readSentinelPassword(e, s, addrsSet)
	switch {
	case addrsSet && !masterSet:
		e.Failf("REDIS_SENTINEL_ADDRS=%q is set without REDIS_SENTINEL_MASTER", addrs)
	case masterSet && !addrsSet:
		e.Failf("REDIS_SENTINEL_MASTER=%q is set without REDIS_SENTINEL_ADDRS", master)
	}
	if masterSet {
		if master == "" || strings.ContainsAny(master, " \t\r\n") {
			e.Fail("REDIS_SENTINEL_MASTER", master, "not a master name")
		}
		s.MasterName = master
	}
	if addrsSet {
		s.Addrs = sentinelAddrs(e, addrs)
	}
}

func readSentinelPassword(e *envvar.Reader, s *SentinelConfig, addrsSet bool) {
	pw, ok := e.Lookup("REDIS_SENTINEL_PASSWORD")
	if !ok {
		return
	}
	if pw == "" {
		e.Failf("REDIS_SENTINEL_PASSWORD is set but empty")
	}
	if !addrsSet {
		e.Failf("REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINEL_ADDRS")
	}
	s.Password = secret.String(pw)
}

func sentinelAddrs(e *envvar.Reader, addrs string) []string {
	if addrs == "" {
		e.Fail("REDIS_SENTINEL_ADDRS", addrs, "empty (want host:port[,host:port...])")
		return nil
	}
	var out []string
	for _, a := range strings.Split(addrs, ",") {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			e.Fail("REDIS_SENTINEL_ADDRS", addrs, strconv.Quote(a)+" is not host:port")
			continue
		}
		out = append(out, a)
	}
	return out
}

// tlsFileVars are the REDIS_TLS_* variables that name files.
var tlsFileVars = [...]string{"REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE"}

func readTLS(e *envvar.Reader, c *Config) {
	t := &c.TLS
	files := [...]*string{&t.CAFile, &t.CertFile, &t.KeyFile}
	for i, name := range tlsFileVars {
		if v, ok := e.Lookup(name); ok {
			if v == "" {
				e.Failf("%s is set but empty (want a path to a PEM file)", name)
			}
			*files[i] = v
		}
	}
	if v, ok := e.Lookup("REDIS_TLS_SERVER_NAME"); ok {
		if v == "" || strings.ContainsAny(v, " \t\r\n/:@") {
			e.Fail("REDIS_TLS_SERVER_NAME", v, "not a host name")
		}
		t.ServerName = v
	}
	e.Flag(&t.InsecureSkipVerify, "REDIS_TLS_INSECURE_SKIP_VERIFY")

	if !c.usesTLS() {
		for i, name := range tlsFileVars {
			if *files[i] != "" {
				e.Failf("%s=%q is set but no REDIS_*_URL uses rediss://", name, *files[i])
			}
		}
		return
	}
	cfg, errs := loadTLSFiles(*t)
	for _, err := range errs {
		e.Failf("%s", err.Error())
	}
	c.tlsConfig = cfg
}

// environNames are the names of os.Environ's "NAME=value" entries.
func environNames(environ []string) []string {
	names := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return names
}
