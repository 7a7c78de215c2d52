package instrument_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

func operation(name string) attribute.KeyValue { return attribute.String("db.operation.name", name) }
func errorType(t string) attribute.KeyValue    { return attribute.String("error.type", t) }

// TestOperationDuration runs commands, failures, a pipeline and a
// transaction through instrumented pools and reads
// db.client.operation.duration.
func TestOperationDuration(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	p := openPools(t, srv, nil)
	r := newReader(t)
	r.instrumentT(t, p, instrument.WithCommandLatency(true))
	c := p.Master()
	// The first command dials: go-redis's connection set-up (HELLO, CLIENT
	// SETNAME in a pipeline, CLIENT SETINFO, which Redis 7.0 refuses) is
	// part of create_time, not an operation.
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := r.collect(t)
	for _, op := range []string{"HELLO", "CLIENT", "PIPELINE"} {
		if h, ok := before.hist("db.client.operation.duration", operation(op)); ok {
			t.Errorf("connection set-up reported as %d %s operations", h.count, op)
		}
	}
	if h, ok := before.hist("db.client.operation.duration", operation("PING")); !ok || h.count != 1 {
		t.Errorf("PING: %d points, want 1", h.count)
	}

	must := func(err error) {
		t.Helper()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	must(c.Set(ctx, "k", "v", 0).Err())
	must(c.Get(ctx, "k").Err())
	must(c.Get(ctx, "missing").Err())                    // redis.Nil: a reply, not a failure
	must(c.Do(ctx, "GET", "k").Err())                    // upper case, as an application may write it
	must(c.Do(ctx, "OBJECT", "ENCODING", "k").Err())     // not in the bounded set
	if err := c.LPush(ctx, "k", "x").Err(); err == nil { // k holds a string
		t.Fatal("LPUSH on a string succeeded")
	}
	if err := c.Do(ctx, "NOSUCHCOMMAND").Err(); err == nil {
		t.Fatal("an unknown command succeeded")
	}
	_, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Get(ctx, "k")
		pipe.Incr(ctx, "n")
		return nil
	})
	must(err)
	_, err = c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, "n")
		return nil
	})
	must(err)

	s := r.collect(t)
	srvAttrs := []attribute.KeyValue{pool("master"), attributeString("db.system.name", "redis"),
		attributeString("server.address", srv.Host), attributeInt("server.port", srv.Port)}
	tests := []struct {
		name  string
		want  []attribute.KeyValue
		count uint64
	}{
		{"SET", []attribute.KeyValue{operation("SET")}, 1},
		{"GET, hits, misses and upper case", []attribute.KeyValue{operation("GET")}, 3},
		{"other: OBJECT, and NOSUCHCOMMAND with its error.type", []attribute.KeyValue{operation("other")}, 2},
		{"WRONGTYPE", []attribute.KeyValue{operation("LPUSH"), errorType("WRONGTYPE")}, 1},
		{"unknown command", []attribute.KeyValue{operation("other"), errorType("ERR")}, 1},
		{"pipeline", []attribute.KeyValue{operation("PIPELINE")}, 1},
		{"transaction", []attribute.KeyValue{operation("MULTI")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := append(tt.want, srvAttrs...)
			h, ok := s.hist("db.client.operation.duration", want...)
			h0, _ := before.hist("db.client.operation.duration", want...)
			if !ok || h.count-h0.count != tt.count {
				t.Fatalf("db.client.operation.duration%s: %d new points (found %v), want %d", attrString(tt.want), h.count-h0.count, ok, tt.count)
			}
			if h.min <= 0 || h.max > 10 {
				t.Errorf("durations from %v to %v s", h.min, h.max)
			}
		})
	}
	// error.type is there on failures only.
	m, _ := s.metric("db.client.operation.duration")
	if m.Unit != "s" {
		t.Errorf("unit %q, want s", m.Unit)
	}
	successes := []attribute.KeyValue{operation("GET")}
	h, _ := s.hist("db.client.operation.duration", successes...)
	for _, et := range []string{"", "_OTHER", "ERR"} {
		if e, ok := s.hist("db.client.operation.duration", operation("GET"), errorType(et)); ok {
			t.Errorf("GET has error.type=%q points (%d of %d)", et, e.count, h.count)
		}
	}
}

// TestCommandLatencyOff: without WithCommandLatency(true), or with
// WithCommandLatency(false), no histogram is created.
func TestCommandLatencyOff(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	for _, tt := range []struct {
		name string
		opts []instrument.ClientOption
	}{
		{"default", nil},
		{"WithCommandLatency(false)", []instrument.ClientOption{instrument.WithCommandLatency(false)}},
		{"true, then false", []instrument.ClientOption{instrument.WithCommandLatency(true), instrument.WithCommandLatency(false)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := redistest.Context(t, waitLong)
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			r := newReader(t)
			r.instrumentClientT(t, c, tt.opts...)
			if err := c.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			s := r.collect(t)
			if _, ok := s.metric("db.client.operation.duration"); ok {
				t.Error("db.client.operation.duration reported")
			}
			if _, ok := s.hist("db.client.connection.use_time"); !ok {
				t.Error("no use_time: the other metrics stopped too")
			}
		})
	}
}
