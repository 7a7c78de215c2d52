package advisebench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shape is one workload: Callers goroutines, each calling Call in a loop
// until the run ends. Call returns how long the caller waited for its
// result (pool wait + command), or an error; think time and burst
// alignment are Call's own and not counted.
type Shape struct {
	Name    string
	About   string // what the shape does, for the table
	Callers int
	// Delay is the one-way network latency between the callers and the
	// server (see network); 0 for plain loopback.
	Delay time.Duration
	// Setup prepares the server once per run (keys, scripts); may be nil.
	Setup func(ctx context.Context, c *redis.Client) error
	Call  func(ctx context.Context, c *redis.Client) (time.Duration, error)
}

// timed measures one command (or pipeline) from the caller's side.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// think sleeps d or until ctx ends.
func think(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// spinScript busies the single-threaded server for ARGV[1] microseconds,
// measured by its own clock (TIME): a slow command whose cost does not
// depend on the machine's speed.
const spinScript = `local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat
  t = redis.call('TIME')
until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
return 1`

// networkDelay is the one-way latency of the shapes that cross a network:
// a 1ms round trip, as between two zones of a cloud region.
const networkDelay = 500 * time.Microsecond

// Shapes are the benchmark's workloads. The sizes are chosen so that the
// oracle lies well inside 1..Callers on a 2-core machine.
func Shapes() []Shape {
	return []Shape{
		{
			Name: "steady", About: "16 callers, GET over a 1ms round trip then 2ms think time", Callers: 16,
			Delay: networkDelay, Setup: setKey,
			Call: func(ctx context.Context, c *redis.Client) (time.Duration, error) {
				d, err := timed(func() error { return c.Get(ctx, "advisebench:key").Err() })
				think(ctx, 2*time.Millisecond)
				return d, err
			},
		},
		{
			Name: "bursts", About: "16 callers wake together every 50ms, 4 GETs each over a 1ms round trip", Callers: 16,
			Delay: networkDelay, Setup: setKey,
			Call: func(ctx context.Context, c *redis.Client) (time.Duration, error) {
				think(ctx, untilNext(50*time.Millisecond))
				var total time.Duration
				for range 4 {
					d, err := timed(func() error { return c.Get(ctx, "advisebench:key").Err() })
					total += d
					if err != nil {
						return total, err
					}
				}
				return total, nil
			},
		},
		{
			Name: "blocking", About: "12 callers, BLPOP on an empty list (20ms timeout) then 20ms think time", Callers: 12,
			Call: func(ctx context.Context, c *redis.Client) (time.Duration, error) {
				d, err := timed(func() error {
					err := c.Do(ctx, "BLPOP", "advisebench:empty", "0.02").Err()
					if err == redis.Nil {
						return nil
					}
					return err
				})
				think(ctx, 20*time.Millisecond)
				return d, err
			},
		},
		{
			Name: "pipeline", About: "16 callers, a pipeline of 32 SETs over a 1ms round trip then 2ms think time", Callers: 16,
			Delay: networkDelay,
			Call: func(ctx context.Context, c *redis.Client) (time.Duration, error) {
				d, err := timed(func() error {
					_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
						for i := range 32 {
							p.Set(ctx, "advisebench:p"+strconv.Itoa(i), i, 0)
						}
						return nil
					})
					return err
				})
				think(ctx, 2*time.Millisecond)
				return d, err
			},
		},
		{
			Name: "slow-server", About: "8 callers, EVAL spinning 1ms in the server then 4ms think time", Callers: 8,
			Setup: func(ctx context.Context, c *redis.Client) error { return c.ScriptLoad(ctx, spinScript).Err() },
			Call: func(ctx context.Context, c *redis.Client) (time.Duration, error) {
				d, err := timed(func() error { return spin.Run(ctx, c, nil, 1000).Err() })
				think(ctx, 4*time.Millisecond)
				return d, err
			},
		},
	}
}

var spin = redis.NewScript(spinScript)

// Select keeps the shapes named in the comma-separated list; every shape
// for an empty list.
func Select(shapes []Shape, names string) ([]Shape, error) {
	if names == "" {
		return shapes, nil
	}
	var out []Shape
	for name := range strings.SplitSeq(names, ",") {
		i := slices.IndexFunc(shapes, func(s Shape) bool { return s.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("advisebench: -shapes: no shape %q", name)
		}
		out = append(out, shapes[i])
	}
	return out, nil
}

func setKey(ctx context.Context, c *redis.Client) error {
	if err := c.Set(ctx, "advisebench:key", "value", 0).Err(); err != nil {
		return fmt.Errorf("advisebench: SET advisebench:key: %w", err)
	}
	return nil
}

// untilNext is the time to the next multiple of period on the wall clock:
// every caller wakes at the same instant, a burst.
func untilNext(period time.Duration) time.Duration {
	return period - time.Duration(time.Now().UnixNano()%int64(period))
}
