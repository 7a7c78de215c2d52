package pools

import (
	"log/slog"

	"github.com/poolscope/poolscope/internal/servicename"
)

// WithDefaultServiceName sets the service part of the client names when
// neither OTEL_SERVICE_NAME nor service.name in OTEL_RESOURCE_ATTRIBUTES
// gives one (instead of the executable's name). It is the same rule, and
// should be the same name, as exporters.WithDefaultServiceName, so that
// CLIENT LIST and the service.name of the metrics agree.
func WithDefaultServiceName(name string) Option {
	return optionFunc(func(o *options) { o.defaultService = name })
}

// applyDefaultService puts the program's default in place of the
// executable's name, step 3 of the service-name rule.
func (c *Config) applyDefaultService(name string) {
	if name != "" && c.ServiceOrigin == servicename.FromExecutable {
		c.Service, c.ServiceOrigin = name, servicename.FromDefault
	}
}

// logStartupWarnings logs, once, what the configuration says that a user
// would otherwise not notice: a variable name that is a near-miss of one of
// poolscope's (its value is ignored).
func (c *Config) logStartupWarnings(logger *slog.Logger) {
	for _, m := range c.nearMisses {
		logger.Warn("pools: "+m.String()+" Its value is ignored.", "variable", m.Name, "closest", m.Closest)
	}
}

// LocalFollowsDefault reports whether the local pool is enabled at its
// default address while the master URL was set: the replica and async
// pools follow REDIS_MASTER_URL, the local pool does not, which surprises
// a user who set only REDIS_MASTER_URL.
func (c *Config) LocalFollowsDefault() bool {
	return c.Local.Enabled && c.Local.Origins.URL == OriginDefault &&
		c.Master.Origins.URL != OriginDefault && c.Master.Origins.URL != ""
}

// localDefaultUnreachable is the one start-up warning when the local pool's
// first health check fails at its default address.
func (c *Config) localDefaultUnreachable(logger *slog.Logger, check HealthCheck) {
	logger.Warn("pools: the local pool uses its default address "+c.Local.RedactedURL()+
		" (REDIS_LOCAL_URL is not set; the other pools follow REDIS_MASTER_URL) and nothing answers there:"+
		" set REDIS_LOCAL_URL, or REDIS_LOCAL_POOL_ENABLED=0 when this host runs no Redis",
		"pool", string(Local), "address", c.Local.RedactedURL(), "error", check.Err)
}
