package agent

import (
	"fmt"
	"sync"
	"testing"

	"github.com/poolscope/poolscope/internal/redistest"
)

// passCounter counts one source's topology discovery passes (a cluster
// seed's, a Sentinel watch's) through the agent's pass hook. Armed with a
// check (within), it runs the check at the end of every pass that started
// after arming, and records the first pass at whose end the check held:
// how many discovery passes the agent needed to show a change, counted
// rather than timed. A pass already under way when the test arms does not
// count: it may have read the topology before the change.
type passCounter struct {
	source string

	mu      sync.Mutex
	started int
	arm     *passArm
}

// passArm is one change being waited for.
type passArm struct {
	from  int // passes started before arming
	check func() error
	ended int   // passes ended since arming
	met   int   // the pass (1: the first started after arming) whose end saw check hold; 0: none yet
	last  error // check's last failure
}

func newPassCounter(source string) *passCounter { return &passCounter{source: source} }

// option installs the counter as the agent's pass hook.
func (c *passCounter) option() Option {
	return optionFunc(func(cfg *config) { cfg.passHook = c.hook })
}

func (c *passCounter) hook(source string) func() {
	if source != c.source {
		return func() {}
	}
	c.mu.Lock()
	c.started++
	n, arm := c.started, c.arm
	c.mu.Unlock()
	if arm == nil || n <= arm.from {
		return func() {}
	}
	return func() {
		err := arm.check() // outside the lock: it collects the agent's metrics
		c.mu.Lock()
		defer c.mu.Unlock()
		arm.ended = n - arm.from // a source's passes run one after another
		if err != nil {
			arm.last = err
		} else if arm.met == 0 {
			arm.met = n - arm.from
		}
	}
}

// within arms check and waits until it has held at the end of a pass; the
// test fails if that pass is later than the limit-th started after arming
// (or none comes before waitFor).
func (c *passCounter) within(t *testing.T, limit int, what string, check func() error) {
	t.Helper()
	arm := &passArm{check: check}
	c.mu.Lock()
	arm.from, c.arm = c.started, arm
	c.mu.Unlock()
	redistest.Eventually(t, waitFor, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if arm.met == 0 && arm.ended < limit {
			return fmt.Errorf("%s: %d discovery passes ended, the agent's series do not show it yet: %v", what, arm.ended, arm.last)
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if arm.met == 0 || arm.met > limit {
		t.Fatalf("%s: the agent's series do not show it after %d discovery passes (want within %d): %v", what, arm.ended, limit, arm.last)
	}
	t.Logf("%s: the agent's series show it at the end of discovery pass %d", what, arm.met)
}
