package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/poolscope/poolscope/internal/redistest"
)

// The memory ramp's shape: the workload's master pool (rampPoolSize) gets
// rampStep more callers that never pause every rampEvery, rampSteps times,
// so that it opens a connection per caller and its RSS grows with them;
// advise then reads the ramp in intervals of rampAdviseStep.
const (
	rampPoolSize   = 400
	rampStep       = 20
	rampSteps      = 16
	rampEvery      = 3 * time.Second
	rampAdviseStep = 2 * time.Second
)

// memoryEntry is one service's memory_per_connection in `advise --json`.
type memoryEntry struct {
	Service string  `json:"service"`
	Bytes   float64 `json:"bytes"`
	Source  string  `json:"source"`
	Reason  string  `json:"reason"`
}

// TestAdviseMemoryMeasured: on a real process whose pool opens connections
// as its callers grow, `poolscope advise` measures the memory per
// connection from the agent's RSS (not make memtable's constant), and the
// figure is at least what an idle plain connection costs (make memtable:
// 15 to 17 KiB): a busy connection also holds its buffers and its caller.
func TestAdviseMemoryMeasured(t *testing.T) {
	addGroup := trackGroups(t)
	ctx := redistest.Context(t, 4*time.Minute)
	s := startLoopStack(t, addGroup, "--discover", "--discover-every", "5")
	w := startLoopWorkload(t, s, "ramp", []string{"REDIS_MASTER_POOL_SIZE=" + strconv.Itoa(rampPoolSize)}, addGroup)

	tick := time.NewTicker(rampEvery)
	defer tick.Stop()
	start := time.Now()
	for i := 1; i <= rampSteps; i++ {
		if _, err := w.do(fmt.Sprintf("callers %d", loopCallers+i*rampStep)); err != nil {
			t.Fatal(err)
		}
		select { // the ramp's pace: load shaping, not a wait for state
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
	}
	stats, err := w.do("stats")
	if err != nil {
		t.Fatal(err)
	}
	ramp := time.Since(start).Round(time.Second)
	t.Logf("ramp of %s: master pool %+v", ramp, stats.Pools["master"])

	window := []string{"--window", ramp.String(), "--step", rampAdviseStep.String()}
	var m memoryEntry
	redistest.Eventually(t, time.Minute, func() error {
		advice, err := adviseJSON(ctx, s, window...)
		if err != nil {
			return err
		}
		for _, e := range advice.Memory {
			if e.Service == loopService {
				if m = e; m.Source != "measured" {
					return fmt.Errorf("%s: %s", m.Source, m.Reason)
				}
				return nil
			}
		}
		return fmt.Errorf("no memory per connection for %s in %+v", loopService, advice.Memory)
	})
	if m.Bytes < 15<<10 {
		t.Errorf("measured %.0f bytes per connection, below make memtable's idle plain connection (15 KiB): %s", m.Bytes, m.Reason)
	}
	out, err := runAdvise(ctx, s, window...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("poolscope advise --prometheus URL --service %s --window %s --step %s:\n%s", loopService, ramp, rampAdviseStep, out)
}
