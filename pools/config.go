package pools

import (
	"crypto/tls"
	"strings"
	"time"

	"github.com/poolscope/poolscope/internal/servicename"
	"github.com/poolscope/poolscope/secret"
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
	// RedactedURL, never URL. (A RoleConfig itself prints, logs and
	// encodes with the URL redacted.)
	URL string
	// MinIdle connections are dialled at start and kept open (async only).
	MinIdle int
	// Max is the hard cap on the pool's connections when Enabled.
	Max int
	// ViaSentinel is true when the pool follows Sentinel instead of URL's host.
	ViaSentinel bool
	// Origins says where each value came from.
	Origins RoleOrigins
}

// Origin says where a configuration value came from: the variable that set
// it ("REDIS_MASTER_POOL_SIZE"), OriginDefault, or "from REDIS_MASTER_URL"
// for a value that follows another variable. `poolscope check` shows it.
type Origin string

// OriginDefault marks a value that nothing set.
const OriginDefault Origin = "default"

// RoleOrigins says where each value of a RoleConfig came from.
type RoleOrigins struct {
	Enabled, URL, MinIdle, Max Origin
}

// RedactedURL is URL with any password replaced by ***.
func (rc RoleConfig) RedactedURL() string { return RedactURL(rc.URL) }

// TLS reports whether the pool's connections use TLS.
func (rc RoleConfig) TLS() bool { return strings.HasPrefix(rc.URL, "rediss://") }

// SentinelConfig holds the REDIS_SENTINEL_* variables.
type SentinelConfig struct {
	Addrs      []string
	MasterName string
	// Password authenticates to the Sentinels. It prints as ***.
	Password secret.String
}

// Enabled reports whether the master and replica pools follow Sentinel.
func (s SentinelConfig) Enabled() bool { return len(s.Addrs) > 0 }

// Config is everything pools/ reads from the environment.
type Config struct {
	// Service names the process in client names, by the rule that
	// exporters uses for service.name: OTEL_SERVICE_NAME, else service.name
	// in OTEL_RESOURCE_ATTRIBUTES, else WithDefaultServiceName, else the
	// executable's name.
	Service string
	// ServiceOrigin says which step of that rule gave Service.
	ServiceOrigin Origin
	Master        RoleConfig
	Replica       RoleConfig
	Local         RoleConfig
	Async         RoleConfig
	TLS           TLSConfig
	Sentinel      SentinelConfig

	PoolTimeout         time.Duration
	IdleTimeout         time.Duration // 0: never reap idle connections
	MaxLifetime         time.Duration // 0: never recycle
	HealthCheckInterval time.Duration
	// HealthCheckTimeout bounds one health-check PING. Zero means the
	// interval, capped at one second (no variable sets it; programs such as
	// `poolscope check --timeout` do).
	HealthCheckTimeout time.Duration

	tlsConfig  *tls.Config // built from TLS by LoadConfig
	nearMisses []NearMiss  // found by ConfigFromEnv, logged by New
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
	defaults := RoleOrigins{OriginDefault, OriginDefault, OriginDefault, OriginDefault}
	role := func(r Role, minIdle, max int) RoleConfig {
		return RoleConfig{Role: r, Enabled: true, URL: DefaultURL, MinIdle: minIdle, Max: max, Origins: defaults}
	}
	return Config{
		Service:             servicename.Executable(),
		ServiceOrigin:       servicename.FromExecutable,
		Master:              role(Master, 0, DefaultMasterSize),
		Replica:             role(Replica, 0, DefaultReplicaSize),
		Local:               role(Local, 0, DefaultLocalSize),
		Async:               role(Async, DefaultAsyncMin, DefaultAsyncMax),
		PoolTimeout:         DefaultPoolTimeout,
		IdleTimeout:         DefaultIdleTimeout,
		MaxLifetime:         DefaultMaxLifetime,
		HealthCheckInterval: DefaultHealthCheckInterval,
	}
}
