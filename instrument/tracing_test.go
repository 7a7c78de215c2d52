package instrument_test

import (
	"testing"

	"github.com/redis/go-redis/extra/redisotel/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestTracing: WithTracing traces the commands of every client the pools
// hand out, a disabled role's new clients included, through the tracer
// provider given, without the command text unless asked for.
func TestTracing(t *testing.T) {
	tests := []struct {
		name      string
		opts      []redisotel.TracingOption
		statement bool
	}{
		{"command text left out by default", nil, false},
		{"redisotel's own option puts it back", []redisotel.TracingOption{redisotel.WithDBStatement(true)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t, redisserver.Options{})
			ctx := redistest.Context(t, waitLong)
			p := openPools(t, srv, map[string]string{"REDIS_LOCAL_POOL_ENABLED": "0"})
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			t.Cleanup(func() { _ = tp.Shutdown(ctx) })
			r := newReader(t)
			r.instrumentT(t, p, instrument.WithTracing(tp, tt.opts...))

			local := p.Local() // a new client, created after New
			t.Cleanup(func() { _ = local.Close() })
			for _, err := range []error{
				p.Master().Set(ctx, "secret-key", "secret-value", 0).Err(),
				local.Get(ctx, "secret-key").Err(),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			names, seen := map[string]int{}, false
			for _, s := range spans.Ended() {
				names[s.Name()]++
				for _, kv := range s.Attributes() {
					if kv.Key == "db.statement" || kv.Key == "db.query.text" {
						if !tt.statement {
							t.Errorf("span %s carries %s=%q", s.Name(), kv.Key, kv.Value.Emit())
						}
						seen = true
					}
				}
			}
			if names["set"] != 1 || names["get"] != 1 {
				t.Errorf("spans %v, want one set (shared master) and one get (local's new client)", names)
			}
			if tt.statement && !seen {
				t.Error("no span carries the command text with WithDBStatement(true)")
			}
		})
	}
}
