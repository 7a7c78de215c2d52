package instrument_test

import (
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestObservedOncePerMeterProvider pins issue 15 item 2: instrument.New(p)
// called twice with one MeterProvider reported db.client.connection.max
// master 20 (configured 10) and two use_time samples for one SET, and
// instrument.New(p.Master()) next to instrument.New(p) reported the same
// connections under a second pool name. Within one MeterProvider the
// second observation is refused with ErrAlreadyObserved and the data stays
// single; through another MeterProvider it is still allowed, each seeing
// every connection once.
func TestObservedOncePerMeterProvider(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)

	// one SET through the master pool, then: max and use_time as one
	// observation reports them.
	check := func(t *testing.T, p interface{ Master() *redis.Client }, readers ...reader) {
		t.Helper()
		if err := p.Master().Set(ctx, "observed-once", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		for _, r := range readers {
			s := r.collect(t)
			if n, _ := s.int64("db.client.connection.max", pool("master")); n != 10 {
				t.Errorf("db.client.connection.max{master} = %d, want the configured 10", n)
			}
			if h, _ := s.hist("db.client.connection.use_time", pool("master")); h.count != 1 {
				t.Errorf("use_time{master} has %d samples after one SET, want 1", h.count)
			}
			if names := s.poolNames("db.client.connection.max"); len(names) != 4 {
				t.Errorf("pools reported: %v, want the four roles only", names)
			}
		}
	}

	t.Run("New twice", func(t *testing.T) {
		p := openPools(t, srv, nil)
		r := newReader(t)
		r.instrumentT(t, p)
		i, err := instrument.New(p, instrument.WithMeterProvider(r.provider))
		refused(t, i, err, "second New with the same MeterProvider")
		t.Logf("second New: %v", err)
		check(t, p, r)
	})

	t.Run("NewClient of a pools client next to New", func(t *testing.T) {
		p := openPools(t, srv, nil)
		r := newReader(t)
		r.instrumentT(t, p)
		i, err := instrument.NewClient(p.Master(), instrument.WithMeterProvider(r.provider))
		refused(t, i, err, "NewClient(p.Master()) next to New(p)")
		check(t, p, r)
	})

	t.Run("New after NewClient of a pools client", func(t *testing.T) {
		p := openPools(t, srv, map[string]string{"REDIS_MASTER_POOL_ENABLED": "0"})
		r := newReader(t)
		r.instrumentClientT(t, p.Master(), instrument.WithPoolName("mine"))
		i, err := instrument.New(p, instrument.WithMeterProvider(r.provider))
		refused(t, i, err, "New(p) next to NewClient(p.Master()) of a disabled role")
	})

	t.Run("NewClient twice", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		r := newReader(t)
		r.instrumentClientT(t, c)
		i, err := instrument.NewClient(c, instrument.WithMeterProvider(r.provider), instrument.WithPoolName("again"))
		refused(t, i, err, "second NewClient")
	})

	t.Run("two MeterProviders", func(t *testing.T) {
		p := openPools(t, srv, nil)
		library, app := newReader(t), newReader(t)
		library.instrumentT(t, p)
		app.instrumentT(t, p)
		check(t, p, library, app)
	})

	t.Run("again after Close", func(t *testing.T) {
		p := openPools(t, srv, nil)
		r := newReader(t)
		first, err := instrument.New(p, instrument.WithMeterProvider(r.provider))
		if err != nil {
			t.Fatal(err)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		r.instrumentT(t, p)
		check(t, p, r)
	})
}

// refused checks that a second observation was refused; one that was not
// is closed at cleanup, so that the checks after it show what it doubled.
func refused(t *testing.T, i *instrument.Instrumentation, err error, what string) {
	t.Helper()
	switch {
	case err == nil:
		t.Cleanup(func() { _ = i.Close() })
		t.Errorf("%s succeeded, want an error wrapping ErrAlreadyObserved", what)
	case !errors.Is(err, instrument.ErrAlreadyObserved):
		t.Fatalf("%s: %v, want an error wrapping ErrAlreadyObserved", what, err)
	}
}
