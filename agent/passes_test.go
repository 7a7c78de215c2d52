package agent

import (
	"fmt"
	"sync"
	"testing"

	"github.com/poolscope/poolscope/internal/redistest"
)

// passCounter counts the agent's passes through its pass hook: the
// topology discovery passes of one source (a cluster seed's, a Sentinel
// watch's) and every server's sampling passes. Armed with a check
// (within), it runs the check at the end of every pass that started after
// arming, and records whether the check held before the passes it is
// allowed were over: limit discovery passes of the source AND limit
// sampling passes of every server the agent then watches (a server added
// since arming counts its passes from its first). How many passes the
// agent needed to show a change, counted rather than timed, and counted on
// every goroutine the change goes through: the source's passes find the
// servers, each server's own passes read its role (INFO) and its shard
// (its own CLUSTER SHARDS), and on a loaded machine any of them may run
// late. A pass already under way when the test arms does not count: it
// may have read its server or the topology before the change.
type passCounter struct {
	source string // the discovery passes' source

	mu      sync.Mutex
	started map[string]int // passes started per source
	arm     *passArm
}

// passArm is one change being waited for.
type passArm struct {
	limit   int             // passes of each kind the change may take
	servers func() []string // the agent's watched servers (Agent.Servers)
	from    map[string]int  // passes started before arming, per source
	check   func() error
	ended   map[string]int // passes started after arming and ended, per source
	met     string         // how many passes had ended when check first held; "" not yet
	late    error          // check's failure when the allowed passes were over; nil: not over yet, or met first
	last    error          // check's last failure
}

// newPassCounter counts source's discovery passes and every server's
// sampling passes; the agent reports them to it through option.
func newPassCounter(source string) *passCounter {
	return &passCounter{source: source, started: map[string]int{}}
}

// option installs the counter as the agent's pass hook.
func (c *passCounter) option() Option {
	return optionFunc(func(cfg *config) { cfg.passHook = c.hook })
}

func (c *passCounter) hook(source string) func() {
	c.mu.Lock()
	c.started[source]++
	n, arm := c.started[source], c.arm
	c.mu.Unlock()
	if arm == nil || n <= arm.from[source] {
		return func() {}
	}
	return func() {
		err := arm.check() // outside the lock: it collects the agent's metrics
		servers := arm.servers()
		c.mu.Lock()
		defer c.mu.Unlock()
		arm.ended[source]++ // a source's passes run one after another
		switch {
		case err == nil && arm.met == "" && arm.late == nil:
			arm.met = c.progress(arm, servers)
		case err != nil:
			arm.last = err
			if arm.met == "" && arm.late == nil && c.over(arm, servers) {
				arm.late = err
			}
		}
	}
}

// over reports whether the source has ended arm.limit discovery passes
// and every server arm.limit sampling passes since arming. The caller
// holds mu.
func (c *passCounter) over(arm *passArm, servers []string) bool {
	if arm.ended[c.source] < arm.limit {
		return false
	}
	for _, s := range servers {
		if arm.ended[samplingSource(s)] < arm.limit {
			return false
		}
	}
	return true
}

// progress says how many passes had ended since arming: the source's
// discovery passes, and the fewest and most sampling passes of a server.
// The caller holds mu.
func (c *passCounter) progress(arm *passArm, servers []string) string {
	fewest, most := -1, 0
	for _, s := range servers {
		n := arm.ended[samplingSource(s)]
		if fewest < 0 || n < fewest {
			fewest = n
		}
		most = max(most, n)
	}
	return fmt.Sprintf("%d discovery pass(es) of the source, %d to %d sampling pass(es) of each of its %d server(s)",
		arm.ended[c.source], max(fewest, 0), most, len(servers))
}

// within arms check and waits until it holds at the end of a pass; the
// test fails if it still does not once the source has ended limit
// discovery passes and every watched server limit sampling passes since
// arming (or if neither comes before waitFor).
func (c *passCounter) within(t *testing.T, ta *testAgent, limit int, what string, check func() error) {
	t.Helper()
	arm := &passArm{limit: limit, servers: ta.Servers, check: check, from: map[string]int{}, ended: map[string]int{}}
	c.mu.Lock()
	for source, n := range c.started {
		arm.from[source] = n
	}
	c.arm = arm
	c.mu.Unlock()
	redistest.Eventually(t, waitFor, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if arm.met == "" && arm.late == nil {
			return fmt.Errorf("%s: the agent's series do not show it after %s: %v", what, c.progress(arm, arm.servers()), arm.last)
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm = nil // no more checks at every pass of every server until the next change
	if arm.late != nil {
		t.Fatalf("%s: the agent's series do not show it after %d discovery passes of the source and %d sampling passes of each server: %v",
			what, limit, limit, arm.late)
	}
	t.Logf("%s: the agent's series show it after %s", what, arm.met)
}
