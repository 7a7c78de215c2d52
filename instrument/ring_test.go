package instrument_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
)

// TestRingOnePoolPerShard: NewClient observes a *redis.Ring as one pool per
// shard, named by the shard's address (prefixed by WithPoolName), as it
// does a cluster's nodes, and refuses the same ring twice within one
// MeterProvider.
func TestRingOnePoolPerShard(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	b := redistest.Start(t, redisserver.Options{})
	ctx := redistest.Context(t, waitLong)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
	t.Cleanup(func() { _ = ring.Close() })

	r := newReader(t)
	r.instrumentClientT(t, ring, instrument.WithPoolName("cache"))
	for k := range 50 {
		if err := ring.Set(ctx, fmt.Sprint("ring:", k), k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s := r.collect(t)
	for _, addr := range []string{a.Addr(), b.Addr()} {
		name := "cache/" + addr
		if _, ok := s.int64("db.client.connection.max", pool(name)); !ok {
			t.Errorf("no pool %q; pools: %v", name, s.poolNames("db.client.connection.max"))
		}
		if h, _ := s.hist("db.client.connection.use_time", pool(name)); h.count < 1 {
			t.Errorf("shard %s: use_time count = %d, want >= 1 (50 keys over 2 shards)", addr, h.count)
		}
	}
	if i, err := instrument.NewClient(ring, instrument.WithMeterProvider(r.provider)); !errors.Is(err, instrument.ErrAlreadyObserved) {
		if i != nil {
			_ = i.Close()
		}
		t.Errorf("the same ring observed twice through one MeterProvider: %v, want ErrAlreadyObserved", err)
	}
}
