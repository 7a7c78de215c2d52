package soak

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// latencies collects GET durations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) p99() (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[len(s)*99/100], len(s)
}

// window is one latency window: the application's GETs (its pools,
// instrumented and exporting) and the control's, taken at the same time
// through a bare go-redis client on the same server. A machine that gets
// slower during a window (other tests' load coming and going) slows both;
// commands waiting for an export slow only the application's.
type window struct {
	app, control latencies
}

// control sends GETs through a bare go-redis client (no pools, no
// instrumentation) at the application's pace, timing them into the open
// window, until ctx ends. Its errors are not the soak's subject: a failed
// GET is left out of the window.
func (r *run) control(ctx context.Context, every time.Duration) {
	o := r.server.ClientOptions()
	o.ClientName = "soak-control"
	c := redis.NewClient(o)
	defer c.Close()
	tick(ctx, every, func() {
		w := r.window.Load()
		if w == nil {
			return
		}
		start := time.Now()
		// A key nobody sets: the same round trip as the application's GET.
		if err := c.Get(ctx, "soak:control").Err(); err != nil && !errors.Is(err, redis.Nil) {
			return
		}
		w.control.add(time.Since(start))
	})
}
