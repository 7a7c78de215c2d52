package instrument

import (
	"github.com/redis/go-redis/extra/redisotel/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolscope/poolscope/internal/autoproduce"
)

// commandConfig is what the command-path options set (command latency and
// tracing); a field of config.
type commandConfig struct {
	// latency turns db.client.operation.duration on.
	latency  bool
	tracing  *tracing
	producer *Producer
	// producerSet: WithProducer was given (nil included), so the
	// pipeline's own slot is not used (see autoProducer).
	producerSet bool
}

// WithCommandLatency turns db.client.operation.duration on, or off (the
// default). Off, poolscope's recorder ignores go-redis's command and
// pipeline durations, and the histogram is not created. On, it is one
// more histogram measurement per command: with WithProducer 13 to 16 ns of
// CPU with its data in the core's caches and 26 to 28 ns without (as between a
// real command's system calls), through the SDK about 200 ns. It is off by
// default because poolscope's recorder already costs more than 1% of a
// loopback command without it (docs/hot-path.md). poolscope holds
// go-redis's one recorder slot: a program that had command metrics from
// go-redis's own OpenTelemetry recorder keeps them only with it on.
func WithCommandLatency(on bool) Option {
	return optionFunc(func(c config) config {
		c.command.latency = on
		return c
	})
}

// WithTracing adds go-redis's redisotel tracing hook to every client New
// observes: each client of a *pools.Pools, whichever roles are shared or
// hand out a new client per call (those get it as they are created), each
// node of a cluster, or the one client given. Spans come from tp (nil: the
// global otel.GetTracerProvider()). The command text stays out of spans
// (redisotel.WithDBStatement(false)), since values and AUTH arguments can
// be secrets; opts are redisotel's own tracing options and come after
// poolscope's, so redisotel.WithDBStatement(true) puts it back. go-redis
// cannot remove a hook: the clients keep tracing after Close.
func WithTracing(tp trace.TracerProvider, opts ...redisotel.TracingOption) Option {
	own := append([]redisotel.TracingOption(nil), opts...)
	return optionFunc(func(c config) config {
		c.command.tracing = newTracing(tp, own)
		return c
	})
}

// WithProducer exports the duration histograms (create, wait and use time,
// lifetime, health-check and command duration) through p instead of the
// MeterProvider's SDK instruments: lock-free histograms that cost a few
// atomic adds per measurement instead of an SDK Record each (see
// Producer). p must be attached to every reader of the MeterProvider
// (sdkmetric.WithProducer(p)); when a reader collects without it, New's
// Instrumentation reports ErrProducerMissing and falls back to the SDK
// instruments without losing data. nil keeps the SDK instruments.
//
// On a MeterProvider built by exporters.New (without exporters.WithReader)
// the lock-free histograms are used without this option: the pipeline
// attached a Producer slot of its own to every reader it built.
func WithProducer(p *Producer) Option {
	return optionFunc(func(c config) config {
		c.command.producer, c.command.producerSet = p, true
		return c
	})
}

// autoProducer is the Producer of a MeterProvider that exporters.New
// built, which carries a Producer slot on every reader, when the caller
// gave none: every Instrumentation on that provider shares it. nil for any
// other MeterProvider, which keeps the SDK instruments.
func autoProducer(c commandConfig, mp metric.MeterProvider) *Producer {
	if c.producerSet {
		return c.producer
	}
	slot := autoproduce.Of(mp)
	if slot == nil {
		return nil
	}
	return slot.LoadOrStore(NewProducer()).(*Producer)
}
