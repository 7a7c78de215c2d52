package instrument

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolscope/poolscope/internal/latency"
)

// config is what the options set. It is unexported so that new options can
// be added without breaking callers.
type config struct {
	meterProvider metric.MeterProvider
	attrs         []attribute.KeyValue
	poolName      string
	boundaries    []float64
	command       commandConfig // options_latency.go
}

// Option configures New and NewClient alike: WithMeterProvider,
// WithAttributes and WithHistogramBoundaries.
type Option interface {
	ClientOption
	appliesToPools() // marks the options New takes
}

// ClientOption configures NewClient. Every Option is one; WithPoolName is a
// ClientOption only, since New names a *pools.Pools' pools by role.
type ClientOption interface {
	applyClient(config) config
}

// optionFunc is an option that applies to both constructors.
type optionFunc func(config) config

func (f optionFunc) applyClient(c config) config { return f(c) }
func (optionFunc) appliesToPools()               {}

// clientOptionFunc is an option that applies to NewClient only.
type clientOptionFunc func(config) config

func (f clientOptionFunc) applyClient(c config) config { return f(c) }

// newConfig is newClientConfig for New's options (each one a ClientOption).
func newConfig(opts []Option) config {
	copts := make([]ClientOption, len(opts))
	for k, o := range opts {
		copts[k] = o
	}
	return newClientConfig(copts)
}

// newClientConfig applies the defaults, then the options, then fixes up
// what the options left unusable.
func newClientConfig(opts []ClientOption) config {
	c := config{
		meterProvider: otel.GetMeterProvider(),
		boundaries:    latency.Boundaries,
	}
	for _, o := range opts {
		if o != nil {
			c = o.applyClient(c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	c.attrs = extraAttributes(c.attrs)
	return c
}

// WithMeterProvider sets the MeterProvider the instruments are created
// from. The default is the global one, otel.GetMeterProvider(); nil keeps
// the default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.meterProvider = mp
		}
		return c
	})
}

// WithAttributes adds attributes to every metric, for example a
// deployment or shard label. The slice is copied: the caller may keep
// using and changing it (redisotel sorted its caller's slice in place,
// go-redis#3880). Attributes poolscope sets itself
// (db.client.connection.pool.name, db.system.name, server.address,
// server.port, db.client.connection.state, redis.client.connection.kind,
// reason, outcome, db.operation.name, error.type) and invalid ones are dropped, so that a label cannot
// hide which pool a value belongs to. Several calls add up.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	own := append([]attribute.KeyValue(nil), attrs...)
	return optionFunc(func(c config) config {
		c.attrs = append(c.attrs[:len(c.attrs):len(c.attrs)], own...)
		return c
	})
}

// WithPoolName names the pool of the client given to NewClient
// (db.client.connection.pool.name). Without it a *redis.Client's pool is
// named "host:port/db" (the socket path instead of host:port for a unix
// socket), as the semantic conventions suggest. A Sentinel failover client
// has no fixed address, so NewClient requires a name for it. For a
// *redis.ClusterClient or *redis.Ring the name prefixes every node's pool:
// "name/host:port" instead of "host:port". New does not take it: a
// *pools.Pools names its pools by role.
func WithPoolName(name string) ClientOption {
	return clientOptionFunc(func(c config) config {
		c.poolName = name
		return c
	})
}

// WithHistogramBoundaries sets the bucket boundaries, in seconds, of every
// duration histogram (create, wait and use time, lifetime, health-check
// duration). The default, latency.Boundaries, runs from 10 microseconds to
// 10 seconds. The slice is copied. New and NewClient reject boundaries
// that are not finite and strictly increasing.
func WithHistogramBoundaries(boundaries ...float64) Option {
	own := append([]float64(nil), boundaries...)
	return optionFunc(func(c config) config {
		c.boundaries = own
		return c
	})
}

// reservedKeys are the attribute keys poolscope sets itself.
var reservedKeys = map[attribute.Key]bool{
	keyPoolName:      true,
	keySystemName:    true,
	keyServerAddress: true,
	keyServerPort:    true,
	keyState:         true,
	keyKind:          true,
	keyReason:        true,
	keyOutcome:       true,
	keyOperationName: true,
	keyErrorType:     true,
}

// extraAttributes returns a copy of attrs without invalid attributes and
// without the ones poolscope sets itself.
func extraAttributes(attrs []attribute.KeyValue) []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, kv := range attrs {
		if kv.Valid() && !reservedKeys[kv.Key] {
			out = append(out, kv)
		}
	}
	return out
}
