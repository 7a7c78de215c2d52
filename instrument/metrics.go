package instrument

import (
	"errors"
	"slices"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
)

// instruments are created once per Instrumentation, with the semantic
// convention constructors where a convention exists.
type instruments struct {
	count    dbconv.ClientConnectionCountObservable
	idleMax  dbconv.ClientConnectionIdleMaxObservable
	idleMin  dbconv.ClientConnectionIdleMinObservable
	max      dbconv.ClientConnectionMaxObservable
	pending  dbconv.ClientConnectionPendingRequestsObservable
	timeouts dbconv.ClientConnectionTimeoutsObservable

	createTime, waitTime, useTime *histogram

	closed   metric.Int64Counter
	lifetime *histogram

	hits, misses, waits, stale, unusable metric.Int64ObservableCounter

	// demandMax is redis.client.connection.demand.max, demand
	// redis.client.connection.demand (see demand).
	demandMax metric.Int64ObservableGauge
	demand    *histogram

	// The health instruments exist only for *pools.Pools, which runs
	// health checks; a plain client has none to report.
	healthChecks   metric.Int64Counter
	healthDuration *histogram
	healthUp       metric.Int64ObservableGauge

	// opDuration is db.client.operation.duration; nil unless
	// WithCommandLatency(true).
	opDuration *histogram
	// tracing is WithTracing's hook maker; nil without it.
	tracing *tracing
	// fast is WithProducer's lock-free path; nil without it.
	fast *fastPath
	// durationBounds are the duration histograms' buckets, durationLimits
	// their limits (see limitsOf), built once.
	durationBounds []float64
	durationLimits []int64
}

// Metric names without a semantic convention. go-redis's own native
// instrumentation uses the redis.client.connection. prefix too.
const (
	nameClosed         = "redis.client.connection.closed"
	nameLifetime       = "redis.client.connection.lifetime"
	nameHits           = "redis.client.connection.hits"
	nameMisses         = "redis.client.connection.misses"
	nameWaits          = "redis.client.connection.waits"
	nameStale          = "redis.client.connection.stale"
	nameUnusable       = "redis.client.connection.unusable"
	nameHealthChecks   = "redis.client.health.checks"
	nameHealthDuration = "redis.client.health.duration"
	nameHealthUp       = "redis.client.health.up"
)

func newInstruments(m metric.Meter, cfg config, health bool) (*instruments, error) {
	var (
		in   = instruments{tracing: cfg.command.tracing}
		errs []error
		err  error
	)
	if p := cfg.command.producer; p != nil {
		in.fast = newFastPath(p)
	}
	// A copy: the default is latency.Boundaries, shared with exporters/.
	bounds := slices.Clone(cfg.boundaries)
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	buckets := metric.WithExplicitBucketBoundaries(bounds...)

	// The semconv constructors append the convention's unit and description
	// after the options given here, so a description passed here would be
	// overridden: only the buckets are added.
	in.count, err = dbconv.NewClientConnectionCountObservable(m)
	check(err)
	in.idleMax, err = dbconv.NewClientConnectionIdleMaxObservable(m)
	check(err)
	in.idleMin, err = dbconv.NewClientConnectionIdleMinObservable(m)
	check(err)
	in.max, err = dbconv.NewClientConnectionMaxObservable(m)
	check(err)
	in.pending, err = dbconv.NewClientConnectionPendingRequestsObservable(m)
	check(err)
	in.timeouts, err = dbconv.NewClientConnectionTimeoutsObservable(m)
	check(err)

	createTime, err := dbconv.NewClientConnectionCreateTime(m, buckets)
	check(err)
	in.createTime = in.duration(createTime.Inst(), createTime.Name(), createTime.Unit(), createTime.Description(), bounds)
	waitTime, err := dbconv.NewClientConnectionWaitTime(m, buckets)
	check(err)
	in.waitTime = in.duration(waitTime.Inst(), waitTime.Name(), waitTime.Unit(), waitTime.Description(), bounds)
	useTime, err := dbconv.NewClientConnectionUseTime(m, buckets)
	check(err)
	in.useTime = in.duration(useTime.Inst(), useTime.Name(), useTime.Unit(), useTime.Description(), bounds)

	in.closed, err = m.Int64Counter(nameClosed,
		metric.WithUnit("{connection}"),
		metric.WithDescription("Connections closed, by reason: idle_timeout, max_lifetime, stale, error, pool_closed, failover or other."))
	check(err)
	in.lifetime = in.histogram(m, check, nameLifetime, "How long closed connections lived, from dial to close, by close reason.", bounds)

	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return c
	}
	in.hits = counter(nameHits, "{hit}", "Times a free connection was found in the pool.")
	in.misses = counter(nameMisses, "{miss}", "Times no free connection was found in the pool, so a new one was dialled.")
	in.waits = counter(nameWaits, "{wait}", "Times a caller had to wait for a turn in the pool and got one (waits that timed out are db.client.connection.timeouts).")
	in.stale = counter(nameStale, "{connection}", "Connections removed from the pool for any reason except the pool's own Close (go-redis's PoolStats.StaleConns, which counts every removal, not only stale ones).")
	in.unusable = counter(nameUnusable, "{connection}", "Connections found unusable (go-redis's PoolStats.Unusable; go-redis v9.23 never increments it).")

	in.demandMax, err = m.Int64ObservableGauge(nameDemandMax,
		metric.WithUnit("{connection}"),
		metric.WithDescription("Most callers holding or waiting for a connection at once since the last collection (connections in use plus callers waiting, at its peak)."))
	check(err)
	demand, err := m.Float64Histogram(nameDemand,
		metric.WithExplicitBucketBoundaries(demandBounds[:]...),
		metric.WithUnit("{connection}"),
		metric.WithDescription(demandDescription))
	check(err)
	in.demand = &histogram{sdk: demand, name: nameDemand, unit: "{connection}", description: demandDescription,
		fast: in.fast, bounds: demandBounds[:], limits: demandLimits}

	if cfg.command.latency {
		d, err := dbconv.NewClientOperationDuration(m, buckets)
		check(err)
		in.opDuration = in.duration(d.Inst(), d.Name(), d.Unit(), d.Description(), bounds)
	}

	if health {
		in.healthChecks, err = m.Int64Counter(nameHealthChecks,
			metric.WithUnit("{check}"),
			metric.WithDescription("Health checks (PINGs through a dedicated connection) by outcome: ok, error or timeout."))
		check(err)
		in.healthDuration = in.histogram(m, check, nameHealthDuration, "How long health checks took, by outcome.", bounds)
		in.healthUp, err = m.Int64ObservableGauge(nameHealthUp,
			metric.WithUnit("{status}"),
			metric.WithDescription("1 when the pool's last health check succeeded, 0 when it failed; absent before the first check."))
		check(err)
	}
	return &in, errors.Join(errs...)
}

// duration wraps an SDK duration histogram (seconds) of the
// Instrumentation, whose buckets are bounds.
// Its limits are the ones every duration histogram of the Instrumentation
// shares (they all have the same buckets): a command reads them for three
// histograms, from one cache line.
func (in *instruments) duration(h metric.Float64Histogram, name, unit, description string, bounds []float64) *histogram {
	if in.durationLimits == nil || !slices.Equal(in.durationBounds, bounds) {
		in.durationBounds, in.durationLimits = bounds, limitsOf(bounds, true)
	}
	return &histogram{sdk: h, name: name, unit: unit, description: description, fast: in.fast,
		bounds: bounds, limits: in.durationLimits, seconds: true}
}

// histogram creates a duration histogram in seconds without a semantic
// convention.
func (in *instruments) histogram(m metric.Meter, check func(error), name, description string, bounds []float64) *histogram {
	h, err := m.Float64Histogram(name, metric.WithExplicitBucketBoundaries(bounds...), metric.WithUnit("s"), metric.WithDescription(description))
	check(err)
	return in.duration(h, name, "s", description, bounds)
}

// observables lists the instruments the one callback observes.
func (in *instruments) observables() []metric.Observable {
	obs := []metric.Observable{
		in.count.Inst(), in.idleMax.Inst(), in.idleMin.Inst(), in.max.Inst(), in.pending.Inst(), in.timeouts.Inst(),
		in.hits, in.misses, in.waits, in.stale, in.unusable, in.demandMax,
	}
	if in.healthUp != nil {
		obs = append(obs, in.healthUp)
	}
	return obs
}
