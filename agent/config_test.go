package agent

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConfigValidateAccepts(t *testing.T) {
	c := DefaultConfig()
	c.PIDs = []int{1, 42}
	c.Match = `^redis-(server|sentinel)$`
	c.RedisURLs = []string{"redis://:pw@127.0.0.1:6379/0", "rediss://redis.internal:6380/1", "unix:///run/redis.sock"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	opts, err := c.Options()
	if err != nil || len(opts) == 0 {
		t.Fatalf("Options = %d options, %v", len(opts), err)
	}
	cfg := newConfig(opts)
	if cfg.match == nil || len(cfg.pids) != 2 || len(cfg.redisURLs) != 3 || cfg.interval != DefaultInterval || !cfg.serverMetrics {
		t.Fatalf("options did not carry the config: %+v", cfg)
	}
	c.ServerMetrics = false // processes are selected: attribution only is fine
	if opts, err = c.Options(); err != nil || newConfig(opts).serverMetrics {
		t.Fatalf("ServerMetrics false: Options = %v; server metrics still on: %v", err, newConfig(opts).serverMetrics)
	}
}

// Each bad value is one case; the message must name the field (not a
// flag of poolscope agent: cmd/poolscope maps fields to flags) and the
// value, and never a password.
func TestConfigValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"interval zero", func(c *Config) { c.Interval = 0 }, `Config.Interval="0s": want 100ms to 1h0m0s`},
		{"interval too long", func(c *Config) { c.Interval = 2 * time.Hour }, `Config.Interval="2h0m0s"`},
		{"pid", func(c *Config) { c.PIDs = []int{12, -3} }, `Config.PIDs="-3": not a process id`},
		{"match", func(c *Config) { c.Match = "(" }, `Config.Match="(": not a regular expression`},
		{"discover every", func(c *Config) { c.DiscoverEvery = 0 }, `Config.DiscoverEvery="0"`},
		{"redis scheme", func(c *Config) { c.RedisURLs = []string{"http://:s3cret@x:1"} }, `Config.RedisURLs="http://***@x:1": unsupported scheme "http"`},
		{"redis port", func(c *Config) { c.RedisURLs = []string{"redis://user:s3cret@h:0/0"} }, `Config.RedisURLs="redis://user:***@h:0/0": port "0" out of range`},
		{"redis not a URL", func(c *Config) { c.RedisURLs = []string{"localhost:6379"} }, `Config.RedisURLs="localhost:6379": not a URL`},
		{"top names", func(c *Config) { c.TopNames = 0 }, `Config.TopNames="0": want 1 to 1000`},
		{"client list max", func(c *Config) { c.ClientListMaxClients = -1 }, `Config.ClientListMaxClients="-1"`},
		{"client list every", func(c *Config) { c.ClientListEvery = -2 }, `Config.ClientListEvery="-2"`},
		{"server metrics off, no process", func(c *Config) { c.ServerMetrics = false }, `Config.ServerMetrics="false": no process is selected either`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "--") {
				t.Fatalf("the error shows a password or a flag name: %v", err)
			}
			if _, err := c.Options(); err == nil {
				t.Fatal("Options accepted an invalid Config")
			}
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	c := Config{Interval: -1, PIDs: []int{0}, Match: "[", RedisURLs: []string{"x"}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 6 { // interval, pid, match, discover-every, redis, top-names
		t.Fatalf("%d problems reported, want 6:\n%v", len(lines), err)
	}
}

// Each field that selects processes, set alone with the server metrics
// off, makes a valid Config whose options select processes: the Config's
// and the options' readings of processSelectors agree, and no selector is
// missing from the list.
func TestEachProcessSelectorSelects(t *testing.T) {
	sets := map[string]func(*Config){
		"WithSelf":     func(c *Config) { c.Self = true },
		"WithPIDs":     func(c *Config) { c.PIDs = []int{42} },
		"WithPIDFile":  func(c *Config) { c.PIDFile = "/run/app.pid" },
		"WithMatch":    func(c *Config) { c.Match = "^app$" },
		"WithDiscover": func(c *Config) { c.Discover = true },
	}
	if len(sets) != len(processSelectors) {
		t.Fatalf("the test sets %d selectors, processSelectors lists %d (%s)", len(sets), len(processSelectors), processSelectorNames())
	}
	for _, s := range processSelectors {
		t.Run(s.option, func(t *testing.T) {
			c := DefaultConfig()
			c.ServerMetrics = false
			sets[s.option](&c)
			opts, err := c.Options()
			if err != nil {
				t.Fatal(err)
			}
			if cfg := newConfig(opts); !s.inOpts(cfg) || !cfg.samplesProcesses() {
				t.Fatalf("%s: the options do not select processes", s.option)
			}
		})
	}
	if newConfig(nil).samplesProcesses() || DefaultConfig().selectsProcesses() {
		t.Fatal("no option given, processes selected")
	}
}

func TestNewConfigFixesBadValues(t *testing.T) {
	c := newConfig([]Option{WithInterval(-time.Second), WithDiscoverEvery(0), WithTopNames(-1),
		WithClientListMaxClients(-5), WithClientListEvery(-1), WithMaxBackoff(time.Millisecond)})
	if c.interval != DefaultInterval || c.discoverEvery != DefaultDiscoverEvery || c.topNames != DefaultTopNames ||
		c.clientListMaxClients != DefaultClientListMaxClients || c.clientListEvery != 0 || c.maxBackoff != DefaultInterval {
		t.Fatalf("newConfig kept bad values: %+v", c)
	}
}

// TestUnverifiedTLSSaidAtStart (issue 15, item 7): a TLS server whose
// certificate is not verified is named in a warning at start.
func TestUnverifiedTLSSaidAtStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insecure bool
	}{{"verified", false}, {"not verified", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			a := &Agent{cfg: newConfig([]Option{WithRedis("rediss://:pw@db:6380/0", "redis://plain:6379/0"),
				WithTLSConfig(&tls.Config{InsecureSkipVerify: tc.insecure})})}
			a.logger = slog.New(slog.NewTextHandler(&logs, nil))
			if err := a.addServers(); err != nil {
				t.Fatal(err)
			}
			said := strings.Contains(logs.String(), "NOT verified") && strings.Contains(logs.String(), "rediss://***@db:6380/0")
			if said != tc.insecure || strings.Contains(logs.String(), "plain") {
				t.Errorf("insecure %v, log:\n%s", tc.insecure, logs.String())
			}
		})
	}
}
