package instrument

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	_ "unsafe" // for go:linkname

	"github.com/redis/go-redis/v9"
)

// cputicks reads the CPU's timestamp counter, the hardware under the
// monotonic clock (the runtime keeps this name linkable: go.dev/issue/67401).
//
//go:linkname cputicks runtime.cputicks
func cputicks() int64

// BenchmarkRecorderCommand replays, without any I/O, the recorder calls
// go-redis v9.23 makes for one GET on an idle pooled connection, in order:
// the pending request (+1, -1), the idle -> used transition, the wait time,
// the used -> idle transition, and the command's duration, through the same
// interfaces go-redis's adapter uses, with the pool name go-redis passes (the
// connection's PoolName), so that the demand high-water mark
// (redis.client.connection.demand.max) is kept as in a real pool. "nop" is a recorder that does
// nothing: poolscope's ns/op minus nop's is the CPU time poolscope's
// recorder adds per command, free of the network's noise. "parallel" runs
// it from one goroutine per core, each on its own connection of one pool.
// cpu-ns/op is the process's CPU time per command (getrusage), which a
// busy machine's time slicing does not inflate as it does ns/op.
// "poolscope-producer" records into WithProducer's lock-free histograms;
// both record every metric, command latency included. "poolscope-default"
// is "poolscope-producer" with command latency off, as by default. "floor"
// is poolscope's recorder without any histogram update (see
// floorRecorder): a lower bound for any design that keeps these metrics.
// "unobserved" is a client poolscope does not observe: a connection it did
// not dial, and a pool name it never learns.
//
// "cold" is the sequential case with the recorder's data out of the core's
// caches, as between a real command's callbacks (go-redis's syscalls, the
// scheduler and the network stack run in between and evict them): each
// command goes to the next of coldPools pools, each with its own
// connection and name, so that a command finds the lines it touched last
// time in the shared L3 cache at best. Its difference to "sequential" is
// what the recorder's cache misses cost; end to end, a command pays
// between the two.
func BenchmarkRecorderCommand(b *testing.B) {
	const coldPools = 512
	ctx := context.Background()
	cmd := redis.NewStringCmd(ctx, "get", "k")
	for _, rec := range []struct {
		name       string
		r          redis.OTelRecorder
		producer   *Producer
		opts       []Option
		unobserved bool
	}{
		{"poolscope", recorder{}, nil, nil, false},
		{"poolscope-producer", recorder{}, NewProducer(), nil, false},
		{"poolscope-default", recorder{}, NewProducer(), []Option{WithCommandLatency(false)}, false},
		{"floor", floorRecorder{}, NewProducer(), nil, false},
		{"nop", nopRecorder{}, nil, nil, false}, {"unobserved", recorder{}, nil, nil, true},
	} {
		p, _ := testPoolWith(b, rec.producer, rec.opts...)
		counter := rec.r.(redis.OTelConnectionCounter)
		command := func(ci redis.ConnInfo) { // in go-redis's order
			counter.RecordPendingRequests(ctx, 1, nil, ci.PoolName())
			counter.RecordConnectionCount(ctx, -1, ci, "idle", false)
			counter.RecordConnectionCount(ctx, 1, ci, "used", false)
			rec.r.RecordConnectionWaitTime(ctx, 200*time.Nanosecond, ci)
			counter.RecordPendingRequests(ctx, -1, ci, ci.PoolName())
			counter.RecordConnectionCount(ctx, -1, ci, "used", false)
			counter.RecordConnectionCount(ctx, 1, ci, "idle", false)
			rec.r.RecordOperationDuration(ctx, 150*time.Microsecond, cmd, 1, nil, ci, 0)
		}
		newConnOf := func(p *observedPool, name string) redis.ConnInfo {
			raw, peer := net.Pipe()
			b.Cleanup(func() { _ = raw.Close(); _ = peer.Close() })
			if rec.unobserved {
				return &fakeConnInfo{conn: raw, name: "10.9.9.9:6379_unobserved"}
			}
			tc := track(raw, p, 0)
			asTracked(tc).ready.Store(true)
			return &fakeConnInfo{conn: tc, name: name}
		}
		// A name of the case's own, as every go-redis pool has: a name
		// shared with an earlier case's pool would update that pool's
		// demand too (the SDK histogram of "poolscope").
		newConn := func() redis.ConnInfo { return newConnOf(p, "127.0.0.1:6379_bench-"+rec.name) }
		b.Run(rec.name+"/sequential", func(b *testing.B) {
			ci := newConn()
			b.ReportAllocs()
			cpu := ProcessCPU(b)
			for b.Loop() {
				command(ci)
			}
			b.ReportMetric(float64(ProcessCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
		// The unobserved client and the SDK histograms are measured hot
		// only.
		if !rec.unobserved && rec.name != "poolscope" {
			b.Run(rec.name+"/cold", func(b *testing.B) {
				conns := make([]redis.ConnInfo, coldPools)
				for i := range conns {
					p, _ := testPoolWith(b, rec.producer, rec.opts...)
					conns[i] = newConnOf(p, fmt.Sprintf("127.0.0.1:6379_cold-%s-%d", rec.name, i))
					command(conns[i]) // learns the pool's name (see learnNames)
				}
				b.ReportAllocs()
				cpu := ProcessCPU(b)
				for n := 0; b.Loop(); n++ {
					command(conns[n%coldPools])
				}
				b.ReportMetric(float64(ProcessCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
		b.Run(rec.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			cpu := ProcessCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				ci := newConn()
				for pb.Next() {
					command(ci)
				}
			})
			b.ReportMetric(float64(ProcessCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// nopRecorder does nothing, with every interface poolscope's recorder has.
type nopRecorder struct{ recorder }

func (nopRecorder) RecordOperationDuration(context.Context, time.Duration, redis.Cmder, int, error, redis.ConnInfo, int) {
}
func (nopRecorder) RecordConnectionWaitTime(context.Context, time.Duration, redis.ConnInfo)  {}
func (nopRecorder) RecordConnectionCount(context.Context, int, redis.ConnInfo, string, bool) {}
func (nopRecorder) RecordPendingRequests(context.Context, int, redis.ConnInfo, string)       {}

// floorRecorder is poolscope's recorder with every histogram update left
// out: what any way of keeping poolscope's metrics still does per command
// (docs/hot-path.md, "What stands between this and 0.99"): find the pool
// from go-redis's pool name and from the connection at each event, count
// the caller in and out of the pool's demand, stamp the borrow and read the
// clock at both ends of it for use_time, and name the command. A histogram
// design, however cheap, only adds to it.
type floorRecorder struct{ recorder }

func (floorRecorder) RecordPendingRequests(ctx context.Context, delta int, cn redis.ConnInfo, poolName string) {
	if delta > 0 {
		if e := byName(poolName); e != nil && e.waiting == nil {
			for _, p := range e.pools {
				if !p.closed.Load() {
					p.demand.arrive()
				}
			}
		}
		return
	}
	c := trackedFrom(cn)
	if c != nil && !c.named.Load() {
		learnNames(ctx, poolName, c)
	}
	for ; c != nil; c = c.next() {
		if !c.pool.closed.Load() {
			c.borrowedAt.Store(nanotime())
		}
	}
}

func (floorRecorder) RecordConnectionWaitTime(_ context.Context, _ time.Duration, cn redis.ConnInfo) {
	for c := trackedFrom(cn); c != nil; c = c.next() {
		_ = c.pool.closed.Load()
	}
}

func (floorRecorder) RecordConnectionCount(_ context.Context, delta int, cn redis.ConnInfo, state string, isPubSub bool) {
	if delta > 0 || isPubSub || state != "used" {
		return
	}
	for c := trackedFrom(cn); c != nil; c = c.next() {
		if since := c.borrowedAt.Swap(0); since != 0 && !c.pool.closed.Load() {
			floorUse.Store(nanotime() - since)
			c.pool.demand.leave()
		}
	}
}

func (floorRecorder) RecordOperationDuration(_ context.Context, _ time.Duration, cmd redis.Cmder, _ int, _ error, cn redis.ConnInfo, _ int) {
	if c := trackedFrom(cn); c != nil && c.ready.Load() {
		floorCommand = commandOfCmd(cmd)
	}
}

// floorUse and floorCommand keep floorRecorder's results alive.
var (
	floorUse     atomic.Int64
	floorCommand int
)

// ProcessCPU is the CPU time (user + sys) the test process has used, every
// thread included (getrusage). Exported for the external test package's
// benchmarks.
func ProcessCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecorderPrimitives measures what the recorder path is made of
// (docs/hot-path.md): the monotonic clock read use_time takes twice per
// command (nanotime), the CPU's own timestamp counter that the clock read
// is built on ("cpu-ticks": on amd64 the RDTSCP instruction, which is most
// of nanotime's cost, so no cheaper clock exists to switch to), time.Now
// (which reads the wall and the monotonic clock, so go-redis's wall-clock
// usage stamps cannot replace one of those), one locked atomic add, about
// ten of which a command costs, and the atomic store and swap of the
// borrow stamp (an XCHG each on amd64).
func BenchmarkRecorderPrimitives(b *testing.B) {
	var sink int64
	b.Run("nanotime", func(b *testing.B) {
		for b.Loop() {
			sink += nanotime()
		}
	})
	b.Run("cpu-ticks", func(b *testing.B) {
		for b.Loop() {
			sink += cputicks()
		}
	})
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			sink += time.Now().UnixNano()
		}
	})
	b.Run("atomic-add", func(b *testing.B) {
		var a atomic.Int64
		for b.Loop() {
			a.Add(1)
		}
		sink += a.Load()
	})
	b.Run("atomic-swap", func(b *testing.B) {
		var a atomic.Int64
		for b.Loop() {
			a.Store(sink)
			sink += a.Swap(0)
		}
	})
	if sink == 1 {
		b.Log(sink) // keeps sink alive
	}
}
