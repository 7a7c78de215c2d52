package instrument_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestCloseUnregistersEverything: after Close no observation is made, the
// hooks and the recorder record nothing more, and no goroutine is left.
func TestCloseUnregistersEverything(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	baseline := goleak.IgnoreCurrent()

	r := newReader(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	i, err := instrument.NewClient(c, instrument.WithMeterProvider(r.provider), instrument.WithPoolName("closing"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.collect(t).int64("db.client.connection.count", pool("closing")); !ok {
		t.Fatal("no connection count before Close")
	}

	if err := i.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	frozen := r.collect(t)
	for _, name := range []string{"db.client.connection.count", "db.client.connection.max", "redis.client.connection.hits"} {
		if _, ok := frozen.int64(name, pool("closing")); ok {
			t.Errorf("%s still observed after Close", name)
		}
	}

	// Commands, a new dial, a held connection and the client's close:
	// none of it may reach the closed Instrumentation.
	held := c.Conn()
	if err := held.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	_ = held.Close()
	_ = c.Close()
	later := r.collect(t)
	for _, name := range []string{"db.client.connection.create_time", "db.client.connection.wait_time", "db.client.connection.use_time", "redis.client.connection.lifetime"} {
		before, _ := frozen.hist(name, pool("closing"))
		after, _ := later.hist(name, pool("closing"))
		if after.count != before.count {
			t.Errorf("%s count went from %d to %d after Close", name, before.count, after.count)
		}
	}
	if n, _ := later.int64("redis.client.connection.closed", pool("closing")); n != 0 {
		t.Errorf("closed = %d after Close, want 0 (the client closed after the Instrumentation)", n)
	}
	if err := i.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	goleak.VerifyNone(t, baseline)
}

// TestWithAttributesNeverMutatesTheSlice_GoRedis3880 pins redisotel's
// go-redis#3880: attribute.NewSet sorts its argument in place, and
// redisotel handed it a slice shared with the caller and with every hook,
// which raced (and reordered the caller's slice). poolscope copies the
// slice in WithAttributes and gives every set its own. Run under -race:
// readers of the caller's slice run while several Instrumentations are
// built from it and collected.
func TestWithAttributesNeverMutatesTheSlice_GoRedis3880(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	// Unsorted on purpose, with a key poolscope owns that must be dropped.
	attrs := []attribute.KeyValue{
		attribute.String("zone", "eu-1"),
		attribute.String("app", "checkout"),
		attribute.String("db.client.connection.pool.name", "spoofed"),
		attribute.String("deployment", "blue"),
	}
	want := slices.Clone(attrs)

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for k := range attrs {
					_ = attrs[k].Key
				}
			}
		}()
	}

	r := newReader(t)
	var wg sync.WaitGroup
	for k := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MinIdleConns: 1})
			t.Cleanup(func() { _ = c.Close() })
			i, err := instrument.NewClient(c, instrument.WithMeterProvider(r.provider), instrument.WithAttributes(attrs...),
				instrument.WithPoolName("pool-"+string(rune('a'+k))))
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { _ = i.Close() })
			for range 20 {
				_ = c.Ping(ctx).Err()
			}
			r.collect(t)
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	if !slices.Equal(attrs, want) {
		t.Fatalf("WithAttributes changed the caller's slice:\n got %v\nwant %v", attrs, want)
	}
	s := r.collect(t)
	for _, name := range []string{"pool-a", "pool-b", "pool-c"} {
		if _, ok := s.int64("db.client.connection.max", pool(name),
			attribute.String("zone", "eu-1"), attribute.String("app", "checkout"), attribute.String("deployment", "blue")); !ok {
			t.Errorf("pool %s: no point with the extra attributes; pools: %v", name, s.poolNames("db.client.connection.max"))
		}
	}
	if _, ok := s.int64("db.client.connection.max", pool("spoofed")); ok {
		t.Error("WithAttributes overrode db.client.connection.pool.name")
	}
}
