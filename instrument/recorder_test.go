package instrument

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/pools"
)

// fakeConnInfo stands for go-redis's pool connection in recorder events.
type fakeConnInfo struct {
	conn    net.Conn
	expires time.Time
	usedAt  int64
	name    string // the pool's name; "" for a fixed one
}

func (f *fakeConnInfo) RemoteAddr() net.Addr { return nil }
func (f *fakeConnInfo) PoolName() string {
	if f.name != "" {
		return f.name
	}
	return "127.0.0.1:6379_0a1b2c3d"
}
func (f *fakeConnInfo) GetNetConn() net.Conn  { return f.conn }
func (f *fakeConnInfo) ExpiresAt() time.Time  { return f.expires }
func (f *fakeConnInfo) UsedAtNs() int64       { return f.usedAt }
func (f *fakeConnInfo) tracked() *trackedConn { return trackedFrom(f) }

// testPool is an observedPool wired to a real SDK MeterProvider.
func testPool(t testing.TB) (*observedPool, *sdkmetric.ManualReader) { return testPoolWith(t, nil) }

// testPoolWith is testPool with a Producer attached to the reader and the
// instruments (nil: none). Every metric is on, command latency included,
// then opts apply.
func testPoolWith(t testing.TB, producer *Producer, opts ...Option) (*observedPool, *sdkmetric.ManualReader) {
	t.Helper()
	var readerOpts []sdkmetric.ManualReaderOption
	if producer != nil {
		readerOpts = append(readerOpts, sdkmetric.WithProducer(producer))
	}
	r := sdkmetric.NewManualReader(readerOpts...)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	in, err := newInstruments(mp.Meter(ScopeName), newConfig(append([]Option{WithProducer(producer), WithCommandLatency(true)}, opts...)), true)
	if err != nil {
		t.Fatal(err)
	}
	p := newObservedPool("master", server{address: "127.0.0.1", port: 6379}, in, nil, func() []*redis.Client { return nil })
	return p, r
}

// loopbackConn is a real TCP connection, so that the syscall.Conn
// variant of the wrapper is exercised.
func loopbackConn(t *testing.T) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		if c, err := l.Accept(); err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestHotPathsAllocateNothing measures every recorder path a command, a
// dial or a close goes through, for both wrapper types.
func TestHotPathsAllocateNothing(t *testing.T) {
	t.Run("sdk histograms", func(t *testing.T) { testHotPathsAllocateNothing(t, nil) })
	t.Run("producer", func(t *testing.T) { testHotPathsAllocateNothing(t, NewProducer()) })
}

func testHotPathsAllocateNothing(t *testing.T, producer *Producer) {
	ctx := context.Background()
	p, _ := testPoolWith(t, producer)
	pipeA, pipeB := net.Pipe()
	t.Cleanup(func() { _ = pipeA.Close(); _ = pipeB.Close() })
	conns := map[string]net.Conn{"tcp (syscall.Conn)": loopbackConn(t), "pipe (plain net.Conn)": pipeA}
	ioErr := errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout")
	getCmd := redis.NewStringCmd(ctx, "get", "k")
	upperCmd := redis.NewStringCmd(ctx, "GET", "k")
	otherCmd := redis.NewCmd(ctx, "object", "encoding", "k")

	for name, raw := range conns {
		t.Run(name, func(t *testing.T) {
			ci := &fakeConnInfo{conn: track(raw, p, time.Minute), expires: time.Now().Add(time.Hour), usedAt: time.Now().UnixNano()}
			tc := ci.tracked()
			if tc == nil {
				t.Fatal("trackedFrom does not find the wrapper")
			}
			tc.ready.Store(true) // set up: its operations are recorded
			untracked := &fakeConnInfo{conn: raw}
			paths := []struct {
				name string
				run  func()
			}{
				{"wait time", func() { recorder{}.RecordConnectionWaitTime(ctx, time.Millisecond, ci) }},
				{"borrow and return (use time)", func() {
					recorder{}.RecordConnectionCount(ctx, -1, ci, "idle", false)
					recorder{}.RecordConnectionCount(ctx, 1, ci, "used", false)
					recorder{}.RecordConnectionCount(ctx, -1, ci, "used", false)
					recorder{}.RecordConnectionCount(ctx, 1, ci, "idle", false)
				}},
				{"pending requests and demand (go-redis's pool name; learnt in the warm-up run)", func() {
					recorder{}.RecordPendingRequests(ctx, 1, nil, ci.PoolName())
					recorder{}.RecordConnectionCount(ctx, 1, ci, "used", false)
					recorder{}.RecordPendingRequests(ctx, -1, ci, ci.PoolName())
					recorder{}.RecordConnectionCount(ctx, -1, ci, "used", false)
					recorder{}.RecordPendingRequests(ctx, 1, nil, ci.PoolName()) // gives up
					recorder{}.RecordPendingRequests(ctx, -1, nil, ci.PoolName())
					recorder{}.RecordPendingRequests(ctx, 1, nil, "unknown pool")
					recorder{}.RecordPendingRequests(ctx, -1, nil, "unknown pool")
				}},
				{"operation duration", func() {
					recorder{}.RecordOperationDuration(ctx, time.Millisecond, getCmd, 1, nil, ci, 0)
					recorder{}.RecordOperationDuration(ctx, time.Millisecond, upperCmd, 1, redis.Nil, ci, 0)
					recorder{}.RecordOperationDuration(ctx, time.Millisecond, otherCmd, 1, nil, ci, 0)
					recorder{}.RecordOperationDuration(ctx, time.Millisecond, nil, 1, nil, ci, 0)
				}},
				{"failed operation", func() {
					recorder{}.RecordOperationDuration(ctx, time.Millisecond, getCmd, 1, ioErr, ci, 0)
					recorder{}.RecordOperationDuration(ctx, time.Millisecond, getCmd, 2, context.DeadlineExceeded, ci, 0)
				}},
				{"pipeline duration", func() {
					recorder{}.RecordPipelineOperationDuration(ctx, time.Millisecond, "PIPELINE", 3, 1, nil, ci, 0)
					recorder{}.RecordPipelineOperationDuration(ctx, time.Millisecond, "MULTI", 3, 1, redis.ErrClosed, ci, 0)
				}},
				{"create time", func() { recorder{}.RecordConnectionCreateTime(ctx, time.Millisecond, ci) }},
				{"close (stale, refined)", func() {
					tc.closeDone.Store(false)
					recorder{}.RecordConnectionClosed(ctx, ci, "stale", nil)
				}},
				{"close (raw error text)", func() {
					tc.closeDone.Store(false)
					recorder{}.RecordConnectionClosed(ctx, ci, ioErr.Error(), ioErr)
				}},
				{"close seen by the wrapper only", func() {
					tc.closeDone.Store(false)
					tc.recordClose(ctx, reasonOther)
				}},
				{"connection of an unobserved client", func() {
					recorder{}.RecordConnectionWaitTime(ctx, time.Millisecond, untracked)
					recorder{}.RecordConnectionCount(ctx, 1, untracked, "used", false)
					recorder{}.RecordConnectionClosed(ctx, untracked, "stale", nil)
				}},
				{"health check", func() {
					p.recordHealthCheck(ctx, pools.HealthCheck{Role: pools.Master, Outcome: pools.HealthTimeout, Duration: time.Second})
				}},
			}
			for _, path := range paths {
				if n := testing.AllocsPerRun(200, path.run); n != 0 {
					t.Errorf("%s: %v allocations per call, want 0", path.name, n)
				}
			}
			// Wrapping a dialled connection is the one allocation poolscope
			// adds per dial (go-redis itself allocates its 64 KiB of
			// buffers and more there).
			if n := testing.AllocsPerRun(200, func() { _ = track(raw, p, 0) }); n != 1 {
				t.Errorf("wrapping a dialled connection: %v allocations, want 1", n)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	p, _ := testPool(t)
	now := time.Now()
	tests := []struct {
		name   string
		reason string
		err    error
		ci     *fakeConnInfo
		idle   time.Duration
		want   closeReason
	}{
		{"stale past its lifetime", "stale", nil, &fakeConnInfo{expires: now.Add(-time.Millisecond), usedAt: now.UnixNano()}, time.Minute, reasonMaxLifetime},
		{"stale idle too long", "stale", nil, &fakeConnInfo{expires: now.Add(time.Hour), usedAt: now.Add(-2 * time.Minute).UnixNano()}, time.Minute, reasonIdleTimeout},
		{"stale idle but no idle limit", "stale", nil, &fakeConnInfo{expires: now.Add(time.Hour), usedAt: now.Add(-2 * time.Minute).UnixNano()}, 0, reasonStale},
		{"stale, liveness peek failed", "stale", nil, &fakeConnInfo{expires: now.Add(time.Hour), usedAt: now.UnixNano()}, time.Minute, reasonStale},
		{"pool shut down", "pool_shutdown", nil, &fakeConnInfo{}, 0, reasonPoolClosed},
		{"failover", "failover", nil, &fakeConnInfo{}, 0, reasonFailover},
		{"handshake failed", "hook_error", nil, &fakeConnInfo{}, 0, reasonError},
		{"re-auth failed", "auth_error", nil, &fakeConnInfo{}, 0, reasonError},
		{"idle pool full on return", "conn_pool_close", nil, &fakeConnInfo{}, 0, reasonOther},
		{"dialled beyond PoolSize", "connection not pooled", errors.New("connection not pooled"), &fakeConnInfo{}, 0, reasonOther},
		{"raw I/O error text", "read tcp 127.0.0.1:50000->127.0.0.1:6379: read: connection reset by peer", errors.New("x"), &fakeConnInfo{}, 0, reasonError},
		{"raw text without error", "something new in go-redis", nil, &fakeConnInfo{}, 0, reasonOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &trackedConn{pool: p, idleLimit: tt.idle}
			if got := classify(tt.reason, tt.err, tt.ci, c); got != tt.want {
				t.Errorf("classify(%q) = %s, want %s", tt.reason, got, tt.want)
			}
		})
	}
}

// otherRecorder stands for another library's go-redis recorder.
type otherRecorder struct {
	recorder
	registered atomic.Int64
}

func (o *otherRecorder) RegisterPool(string, redis.Pooler) { o.registered.Add(1) }

// recorderInstalled reports whether go-redis calls poolscope's recorder.
func recorderInstalled() bool {
	installed.mu.Lock()
	defer installed.mu.Unlock()
	return probe()
}

// TestRecorderSharedAndReplaced: the recorder is shared, refcounted and
// detached by the last Close; a replacement by another library is reported
// once through otel.Handle and survives poolscope's Close.
func TestRecorderSharedAndReplaced(t *testing.T) {
	c1 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	c2 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:2"})
	t.Cleanup(func() { _ = c1.Close(); _ = c2.Close() })
	if recorderInstalled() {
		t.Fatal("recorder installed before any New")
	}

	t.Run("refcounted", func(t *testing.T) {
		i1, err := NewClient(c1)
		if err != nil {
			t.Fatal(err)
		}
		i2, err := NewClient(c2)
		if err != nil {
			t.Fatal(err)
		}
		if !recorderInstalled() {
			t.Fatal("recorder not installed after New")
		}
		_ = i1.Close()
		if !recorderInstalled() {
			t.Fatal("first Close detached the recorder the second Instrumentation still uses")
		}
		_ = i1.Close() // a second Close must not release twice
		if !recorderInstalled() {
			t.Fatal("second Close of the same Instrumentation released the recorder again")
		}
		_ = i2.Close()
		if recorderInstalled() {
			t.Fatal("recorder still installed after the last Close")
		}
	})

	t.Run("replaced by another library", func(t *testing.T) {
		var handled []error
		prevHandler := otel.GetErrorHandler()
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { handled = append(handled, err) }))
		prevInterval := recorderCheckInterval
		recorderCheckInterval = 0
		t.Cleanup(func() {
			otel.SetErrorHandler(prevHandler)
			recorderCheckInterval = prevInterval
			redis.SetOTelRecorder(nil)
		})

		r := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
		t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		i, err := NewClient(c1, WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		collect := func() {
			var rm metricdata.ResourceMetrics
			if err := r.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
		}
		collect()
		if len(handled) != 0 {
			t.Fatalf("errors handled while poolscope's recorder is installed: %v", handled)
		}

		other := &otherRecorder{}
		redis.SetOTelRecorder(other)
		collect()
		collect()
		if len(handled) != 1 || !errors.Is(handled[0], ErrRecorderReplaced) {
			t.Fatalf("handled %v, want ErrRecorderReplaced once", handled)
		}

		_ = i.Close()
		before := other.registered.Load()
		_ = redis.NewClient(&redis.Options{Addr: "127.0.0.1:3"}).Close()
		if other.registered.Load() == before {
			t.Fatal("poolscope's Close detached the other library's recorder")
		}
	})
}

// BenchmarkSDKHistogramRecord is one Record of the OpenTelemetry SDK with a
// pool's prebuilt attribute set: the floor under each histogram poolscope
// records per command.
func BenchmarkSDKHistogramRecord(b *testing.B) {
	ctx := context.Background()
	p, _ := testPool(b)
	b.ReportAllocs()
	for b.Loop() {
		p.in.waitTime.sdk.Record(ctx, 200e-9, p.sets.waitTime.opts...)
	}
}
