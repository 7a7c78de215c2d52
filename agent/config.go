package agent

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/poolscope/poolscope/pools"
)

// Config is what `poolscope agent` reads from its flags. Validate reports
// every problem at once, each naming the flag and the value (URLs with
// their password redacted); Options turns a valid Config into Start's
// options. Applications embedding the agent use the options directly.
type Config struct {
	Interval      time.Duration // --interval
	PIDs          []int         // --pid, repeatable
	PIDFile       string        // --pidfile
	Match         string        // --match, a regular expression
	Self          bool          // --self
	Discover      bool          // --discover
	DiscoverEvery int           // --discover-every
	PSS           bool          // --pss

	RedisURLs            []string // --redis, repeatable; none: the REDIS_*_URL variables
	TopNames             int      // --top-names
	ClientListMaxClients int      // --client-list-max-clients, 0: off
	ClientListEvery      int      // --client-list-every, 0: automatic
}

// Bounds checked by Validate.
const (
	minInterval = 100 * time.Millisecond
	maxInterval = time.Hour
	maxTopNames = 1000
)

// DefaultConfig is the configuration of `poolscope agent` without flags.
func DefaultConfig() Config {
	return Config{
		Interval:             DefaultInterval,
		DiscoverEvery:        DefaultDiscoverEvery,
		TopNames:             DefaultTopNames,
		ClientListMaxClients: DefaultClientListMaxClients,
	}
}

// Validate checks every field and reports all problems at once.
func (c Config) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("agent: "+format, args...)) }

	if c.Interval < minInterval || c.Interval > maxInterval {
		fail("--interval=%q: want %s to %s", c.Interval.String(), minInterval, maxInterval)
	}
	for _, pid := range c.PIDs {
		if pid <= 0 {
			fail("--pid=%q: not a process id (want a positive integer)", strconv.Itoa(pid))
		}
	}
	if c.Match != "" {
		if _, err := regexp.Compile(c.Match); err != nil {
			fail("--match=%q: not a regular expression: %v", c.Match, err)
		}
	}
	if c.DiscoverEvery < 1 || c.DiscoverEvery > 1000 {
		fail("--discover-every=%q: want 1 to 1000 (passes)", strconv.Itoa(c.DiscoverEvery))
	}
	for _, u := range c.RedisURLs {
		if _, err := newServer(u, nil); err != nil {
			fail("--redis=%q: %v", pools.RedactURL(u), err)
		}
	}
	if c.TopNames < 1 || c.TopNames > maxTopNames {
		fail("--top-names=%q: want 1 to %d", strconv.Itoa(c.TopNames), maxTopNames)
	}
	if c.ClientListMaxClients < 0 {
		fail("--client-list-max-clients=%q: want 0 (CLIENT LIST off) or a positive number of clients", strconv.Itoa(c.ClientListMaxClients))
	}
	if c.ClientListEvery < 0 {
		fail("--client-list-every=%q: want 0 (automatic) or a positive number of passes", strconv.Itoa(c.ClientListEvery))
	}
	return errors.Join(errs...)
}

// Options validates c and returns the matching Start options (without the
// MeterProvider and logger, which the caller adds).
func (c Config) Options() ([]Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := []Option{
		WithInterval(c.Interval),
		WithDiscoverEvery(c.DiscoverEvery),
		WithTopNames(c.TopNames),
		WithClientListMaxClients(c.ClientListMaxClients),
		WithClientListEvery(c.ClientListEvery),
	}
	if len(c.PIDs) > 0 {
		opts = append(opts, WithPIDs(c.PIDs...))
	}
	if c.PIDFile != "" {
		opts = append(opts, WithPIDFile(c.PIDFile))
	}
	if c.Match != "" {
		opts = append(opts, WithMatch(regexp.MustCompile(c.Match))) // compiled by Validate
	}
	if c.Self {
		opts = append(opts, WithSelf())
	}
	if c.Discover {
		opts = append(opts, WithDiscover())
	}
	if c.PSS {
		opts = append(opts, WithPSS())
	}
	if len(c.RedisURLs) > 0 {
		opts = append(opts, WithRedis(c.RedisURLs...))
	}
	return opts, nil
}
