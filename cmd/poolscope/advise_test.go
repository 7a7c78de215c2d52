package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/poolscope/poolscope/advise"
)

// adviseCases covers every flag of `poolscope advise --help`. A valid
// --prometheus that nothing listens on keeps the other flags' cases from
// reaching a server: a case wrongly accepted fails on "cannot query"
// instead of its message.
func adviseCases() []hostileCase {
	var cs []hostileCase
	const unreachable = "http://127.0.0.1:1"
	add := func(name string, args []string, want ...string) {
		cs = append(cs, hostileCase{name: name, args: append([]string{"advise"}, args...), want: want})
	}
	flagValue := func(flagName, value string, want ...string) {
		args := []string{"--" + flagName + "=" + value}
		if flagName != "prometheus" {
			args = append(args, "--prometheus="+unreachable)
		}
		add("--"+flagName+"="+clipName(value), args, want...)
	}
	for v, want := range map[string]string{
		"":                                    `--prometheus="": required`,
		" http://p:9090":                      "contains white space",
		"http://p:9090\nX":                    "contains white space or characters that do not print",
		"prometheus:9090":                     `unsupported scheme "prometheus"`,
		"p":                                   `unsupported scheme ""`,
		"ftp://p:9090":                        `--prometheus="ftp://p:9090": unsupported scheme "ftp"`,
		"http://":                             `--prometheus="http://": no host`,
		"http://:9090":                        "no host",
		"http://p:99999":                      `port "99999" out of range`,
		"http://p:0":                          `port "0" out of range`,
		"http://p:9090/?x=1":                  "a query or fragment is not supported",
		"http://p:9090/#top":                  "a query or fragment is not supported",
		"http://p:9090/%zz":                   "not a valid URL",
		"http://u:" + canary + "@p:99999":     `--prometheus="http://u:***@p:99999": port "99999" out of range`,
		"http://u:" + canary + "@p:9090/?t=1": `--prometheus="http://u:***@p:9090/?t=***"`,
		"http://" + longValue:                 "longer than 4096 bytes",
		"http://ｐrometheus:9090/" + "\u202e":  "contains white space or characters that do not print",
	} {
		flagValue("prometheus", v, "poolscope advise: ", want)
	}
	for v, want := range map[string]string{
		"": "not a duration", "0": "want more than 0", "-1h": "want more than 0", "24": "not a duration",
		"91d": "want more than 0 and at most 90d (2160h0m0s)", "0d": "want more than 0", "1.5d": "not a duration", "d": "not a duration",
		"-1d": "not a duration", "99999999999d": "not a duration",
		"9999999999h": "not a duration", "2400h": "at most 90d (2160h0m0s)", "２４h": "not a duration", longValue: "not a duration",
		"5s": "intervals, want 10 to 11000",
	} {
		flagValue("window", v, "poolscope advise: --window=", want)
	}
	for v, want := range map[string]string{
		"": "invalid value", "0": "want 1s to 1h0m0s", "-1m": "want 1s to 1h0m0s", "1ms": "want 1s to 1h0m0s",
		"2h": "want 1s to 1h0m0s", "1": "invalid value", "9999999999h": "invalid value",
	} {
		flagValue("step", v, want)
	}
	add("--window=7d --step=1s: too many intervals", []string{"--prometheus=" + unreachable, "--window=7d", "--step=1s"},
		`--window="168h0m0s" --step="1s": 604800 intervals, want 10 to 11000`)
	for v, want := range map[string]string{
		"": "invalid value", "0": "want 1µs to 10s", "-1ms": "want 1µs to 10s", "1ns": "want 1µs to 10s",
		"1m": "want 1µs to 10s", "fast": "invalid value", "1": "invalid value",
	} {
		flagValue("wait-p99", v, want)
	}
	for v, want := range map[string]string{
		"": "invalid value", "0": "want 1s to 10m0s", "-1s": "want 1s to 10m0s", "1h": "want 1s to 10m0s", "soon": "invalid value",
	} {
		flagValue("timeout", v, want)
	}
	for v, want := range map[string]string{
		"":          `--service="": empty`,
		"   ":       `--service="   ": blank`,
		"a\nb":      `--service="a\nb": not a printable service name`,
		"a\x00b":    "not a printable service name",
		"\xff\xfe":  "not a printable service name",
		longValue:   "longer than 256 bytes",
		"a\u202eb":  "not a printable service name",
		"tab\there": "not a printable service name",
	} {
		flagValue("service", v, "poolscope advise: --service=", want)
	}
	flagValue("json", "maybe", `invalid boolean value "maybe" for -json`)
	add("unknown flag", []string{"--password", canary}, "flag provided but not defined: -password")
	add("stray argument", []string{"--prometheus=" + unreachable, "http://u:" + canary + "@p:9090"}, `poolscope advise: unexpected argument "http://u:***@p:9090"`)
	add("no flags", nil, `--prometheus="": required`)
	add("every problem at once", []string{"--prometheus=ftp://x", "--window=0", "--step=0", "--wait-p99=1h", "--timeout=1h", "--service="},
		"--prometheus=", "--window=", "--step=", "--wait-p99=", "--timeout=", "--service=")
	add("unreachable", []string{"--prometheus=" + unreachable}, "poolscope advise: cannot query Prometheus at http://127.0.0.1:1 (the configured max query)")
	return cs
}

// The variables to set come from the pools' real names (pools/config.go):
// the replica role is REDIS_SLAVE_POOL_SIZE, the async role has a MIN and a
// MAX, and a role on several servers takes the largest size.
func TestAdviceEnvLines(t *testing.T) {
	pools := []advise.PoolAdvice{
		{Service: "s", Pool: "async", Verdict: advise.Shrink, Recommended: 8, RecommendedMin: 5},
		{Service: "s", Pool: "replica", Server: "a:1", Verdict: advise.Grow, Recommended: 12},
		{Service: "s", Pool: "replica", Server: "b:1", Verdict: advise.Keep, Recommended: 20},
		{Service: "s", Pool: "master", Verdict: advise.NotEnoughData, Recommended: 10},
		{Service: "s", Pool: "10.0.0.5:6379/0", Server: "10.0.0.5:6379", Verdict: advise.Grow, Recommended: 7},
	}
	got := strings.Join(envLines(pools), "\n")
	want := strings.Join([]string{
		"# master: not enough data, size left as is",
		"# 10.0.0.5:6379/0 (10.0.0.5:6379): not a pools role; set its client's PoolSize to 7",
		"REDIS_SLAVE_POOL_SIZE=20",
		"REDIS_ASYNC_POOL_MIN=5",
		"REDIS_ASYNC_POOL_MAX=8",
	}, "\n")
	if got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
}

// Unknown figures (NaN, infinities) are null in the JSON, which cannot
// carry them; the output always parses.
func TestAdviceJSONUnknownFigures(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	r := advise.Report{Pools: []advise.PoolAdvice{{Service: "s", Pool: "master", Verdict: advise.Grow,
		DemandHigh: nan, DemandPeak: inf, HoldMean: nan, WaitP99: -inf, Timeouts: nan, ExpectedWaitP99: inf,
		DeltaConnectionsPerProcess: 1, DeltaMemoryPerProcess: nan, DeltaMemoryService: nan}}}
	var out bytes.Buffer
	u, _ := url.Parse("http://p:9090")
	writeAdviceJSON(&out, adviseFlags{prometheus: u, window: time.Hour, step: time.Minute, waitTarget: time.Millisecond}, r)
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	p := doc["pools"].([]any)[0].(map[string]any)
	for _, k := range []string{"demand_high", "demand_peak", "hold_seconds", "wait_p99_seconds", "timeouts", "expected_wait_p99_seconds", "delta_bytes_service"} {
		if v, ok := p[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	if p["delta_connections_per_process"] != 1.0 {
		t.Errorf("delta_connections_per_process = %v", p["delta_connections_per_process"])
	}
}
