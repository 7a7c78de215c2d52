package instrument

import (
	"fmt"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// tracing adds go-redis's redisotel tracing hook to the clients poolscope
// hooks. It is nil when WithTracing was not given.
type tracing struct {
	opts []redisotel.TracingOption
}

// newTracing returns the tracing of the options: poolscope's defaults
// first (the tracer provider, and no command text in spans: values and
// AUTH arguments can be secrets), then the caller's redisotel options,
// which win.
func newTracing(tp trace.TracerProvider, extra []redisotel.TracingOption) *tracing {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	opts := []redisotel.TracingOption{redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false)}
	return &tracing{opts: append(opts, extra...)}
}

// add hooks c. redisotel appends to the options it is given, so every
// client gets its own copy.
func (t *tracing) add(c *redis.Client) {
	if t == nil {
		return
	}
	opts := append([]redisotel.TracingOption(nil), t.opts...)
	if err := redisotel.InstrumentTracing(c, opts...); err != nil {
		otel.Handle(fmt.Errorf("instrument: tracing %s: %w", c.Options().Addr, err))
	}
}
