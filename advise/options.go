package advise

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Option changes how Advise judges the observations.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	waitTarget     time.Duration
	quantile       float64
	headroom       float64
	minIntervals   int
	budgetFraction float64
	keepMargin     float64
	memory         map[string]MemoryEstimate // by service
}

// Defaults, and why:
const (
	// DefaultWaitTarget: a Redis command takes tens to hundreds of
	// microseconds; a millisecond in the pool is already several commands.
	DefaultWaitTarget = time.Millisecond
	// DefaultLoadQuantile: size for the busy intervals, not the mean: a pool
	// sized to the mean load makes callers wait half the time.
	DefaultLoadQuantile = 0.99
	// DefaultHeadroom is added to the observed peak, which gauges sampled at
	// scrape time understate.
	DefaultHeadroom = 0.1
	// DefaultMinIntervals: fewer intervals give no load distribution to
	// take a quantile of.
	DefaultMinIntervals = 10
	// DefaultBudgetFraction of a server's maxclients is the most the fleet
	// budget may reach after the advice, as the alert on the budget
	// (collector-config/prometheus) warns above 90%: the rest is for
	// replicas, agents, administrators and deploys that overlap.
	DefaultBudgetFraction = 0.9
	// DefaultKeepMargin: a pool at most this much (plus one connection)
	// above the advised size is kept as it is; advice that moves a pool by
	// one connection each run is noise.
	DefaultKeepMargin = 0.25
)

// MaxPoolSize is the largest size advised: pools' own cap on a size.
const MaxPoolSize = 10000

// WithWaitTarget sets the wait p99 the advised size must meet.
func WithWaitTarget(d time.Duration) Option { return optionFunc(func(c *config) { c.waitTarget = d }) }

// WithLoadQuantile sets which quantile of the intervals' demand to size for.
func WithLoadQuantile(q float64) Option { return optionFunc(func(c *config) { c.quantile = q }) }

// WithHeadroom sets the fraction added to the observed peak demand.
func WithHeadroom(h float64) Option { return optionFunc(func(c *config) { c.headroom = h }) }

// WithMinIntervals sets how many intervals with data a pool needs.
func WithMinIntervals(n int) Option { return optionFunc(func(c *config) { c.minIntervals = n }) }

// WithBudgetFraction sets the fraction of maxclients the fleet budget may use.
func WithBudgetFraction(f float64) Option {
	return optionFunc(func(c *config) { c.budgetFraction = f })
}

// WithMemory gives each service's memory per connection (from
// EstimateMemoryPerConnection): the costs of that service's pools use it
// instead of Pool.MemoryPerConnection, and Report.Memory says where it
// comes from. A later estimate for the same service replaces an earlier.
func WithMemory(estimates ...MemoryEstimate) Option {
	return optionFunc(func(c *config) {
		if c.memory == nil {
			c.memory = map[string]MemoryEstimate{}
		}
		for _, e := range estimates {
			c.memory[e.Service] = e
		}
	})
}

func newConfig(opts []Option) (config, error) {
	c := config{
		waitTarget: DefaultWaitTarget, quantile: DefaultLoadQuantile, headroom: DefaultHeadroom,
		minIntervals: DefaultMinIntervals, budgetFraction: DefaultBudgetFraction, keepMargin: DefaultKeepMargin,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c, c.validate()
}

func (c config) validate() error {
	var errs []error
	if c.waitTarget <= 0 {
		errs = append(errs, fmt.Errorf("advise: wait target %s: must be positive", c.waitTarget))
	}
	if !(c.quantile >= 0.5 && c.quantile < 1) {
		errs = append(errs, fmt.Errorf("advise: load quantile %v: want 0.5 to below 1", c.quantile))
	}
	if !(c.headroom >= 0 && c.headroom <= 1) {
		errs = append(errs, fmt.Errorf("advise: headroom %v: want 0 to 1", c.headroom))
	}
	if c.minIntervals < 2 {
		errs = append(errs, fmt.Errorf("advise: minimum intervals %d: want at least 2", c.minIntervals))
	}
	if !(c.budgetFraction > 0 && c.budgetFraction <= 1) || math.IsNaN(c.budgetFraction) {
		errs = append(errs, fmt.Errorf("advise: budget fraction %v: want above 0, at most 1", c.budgetFraction))
	}
	return errors.Join(errs...)
}
