package agent

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/poolscope/poolscope/internal/redisurl"
)

// Config is the agent's settings as plain fields, for programs that read
// them from flags or a file (`poolscope agent` fills it from its flags).
// Validate reports every problem at once, each a *FieldError naming the
// field and the value (URLs with their password redacted); Options turns a
// valid Config into Start's options. Start from DefaultConfig: the zero
// Config fails Validate and has ServerMetrics off. Applications embedding
// the agent use the options directly.
type Config struct {
	Interval      time.Duration // WithInterval
	PIDs          []int         // WithPIDs
	PIDFile       string        // WithPIDFile
	Match         string        // WithMatch, a regular expression
	Self          bool          // WithSelf
	Discover      bool          // WithDiscover
	DiscoverEvery int           // WithDiscoverEvery
	PSS           bool          // WithPSS
	ProcRoot      string        // WithProcRoot, "": /proc

	RedisURLs            []string // WithRedis; none: WithPoolsConfig
	Sentinels            []string // WithSentinel: Sentinel addresses, host:port
	SentinelMaster       string   // WithSentinel: the master's name
	TopNames             int      // WithTopNames
	ClientListMaxClients int      // WithClientListMaxClients, 0: off
	ClientListEvery      int      // WithClientListEvery, 0: automatic
	ServerMetrics        bool     // WithServerMetrics; DefaultConfig: true (false: attribution and topology only)
}

// FieldError is one problem with a field of Config. Programs that fill
// Config from their own flags map Field to the flag's name.
type FieldError struct {
	Field   string // the Config field, "Interval"
	Value   string // the offending value as text, a URL redacted
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("agent: Config.%s=%q: %s", e.Field, e.Value, e.Problem)
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
		ServerMetrics:        true,
	}
}

// Validate checks every field and reports all problems at once, each a
// *FieldError.
func (c Config) Validate() error {
	var errs []error
	fail := func(field, value, problem string) {
		errs = append(errs, &FieldError{Field: field, Value: value, Problem: problem})
	}
	if c.Interval < minInterval || c.Interval > maxInterval {
		fail("Interval", c.Interval.String(), fmt.Sprintf("want %s to %s", minInterval, maxInterval))
	}
	for _, pid := range c.PIDs {
		if pid <= 0 {
			fail("PIDs", strconv.Itoa(pid), "not a process id (want a positive integer)")
		}
	}
	if c.Match != "" {
		if _, err := regexp.Compile(c.Match); err != nil {
			fail("Match", c.Match, "not a regular expression: "+err.Error())
		}
	}
	if c.DiscoverEvery < 1 || c.DiscoverEvery > 1000 {
		fail("DiscoverEvery", strconv.Itoa(c.DiscoverEvery), "want 1 to 1000 (passes)")
	}
	if c.ProcRoot != "" && !filepath.IsAbs(c.ProcRoot) {
		fail("ProcRoot", c.ProcRoot, "not an absolute path (want where the proc file system is mounted, for example /host/proc)")
	}
	for _, u := range c.RedisURLs {
		if err := redisurl.Check(u); err != nil {
			fail("RedisURLs", redisurl.Redact(u), err.Error())
		}
	}
	for _, addr := range c.Sentinels {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			fail("Sentinels", addr, "not host:port")
		}
	}
	switch {
	case len(c.Sentinels) > 0 && c.SentinelMaster == "":
		fail("SentinelMaster", "", "empty: Sentinel addresses need the master's name")
	case len(c.Sentinels) == 0 && c.SentinelMaster != "":
		fail("Sentinels", "", "none: a Sentinel master name needs at least one Sentinel address")
	}
	if c.TopNames < 1 || c.TopNames > maxTopNames {
		fail("TopNames", strconv.Itoa(c.TopNames), fmt.Sprintf("want 1 to %d", maxTopNames))
	}
	if c.ClientListMaxClients < 0 {
		fail("ClientListMaxClients", strconv.Itoa(c.ClientListMaxClients), "want 0 (CLIENT LIST off) or a positive number of clients")
	}
	if c.ClientListEvery < 0 {
		fail("ClientListEvery", strconv.Itoa(c.ClientListEvery), "want 0 (automatic) or a positive number of passes")
	}
	if !c.ServerMetrics && !c.selectsProcesses() {
		fail("ServerMetrics", "false", "no process is selected either, so nothing would be reported")
	}
	return errors.Join(errs...)
}

// selectsProcesses reports whether any field selects processes.
func (c Config) selectsProcesses() bool {
	return slices.ContainsFunc(processSelectors, func(s processSelector) bool { return s.inField(c) })
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
		WithServerMetrics(c.ServerMetrics),
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
	if c.ProcRoot != "" {
		opts = append(opts, WithProcRoot(c.ProcRoot))
	}
	if len(c.RedisURLs) > 0 {
		opts = append(opts, WithRedis(c.RedisURLs...))
	}
	if len(c.Sentinels) > 0 {
		opts = append(opts, WithSentinel(c.SentinelMaster, c.Sentinels, "", ""))
	}
	return opts, nil
}
