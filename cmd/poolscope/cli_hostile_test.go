package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// hostileCase is one hostile value given to one input of one command. Every
// case must end with exit status 2 and a stderr that names the input (want)
// and, unless the value may be a secret, quotes the value.
type hostileCase struct {
	name string
	args []string          // the command line, command first
	env  map[string]string // the environment (nothing else is set)
	want []string          // each must appear in stderr
}

// knownLeaks are cases whose message still shows the canary because of a
// bug in a package this test does not own, by case name (without the
// variable). Each is pinned so that the fix is noticed: the test fails when
// the leak is gone and the entry stays.
var knownLeaks = map[string]string{
	// None now. pools.RedactURL masked only secret-looking query names, so a
	// misspelt ?pasword= was quoted as typed; it now masks every value but
	// go-redis's own options.
}

func knownLeak(caseName string) (bug string, ok bool) {
	for suffix, bug := range knownLeaks {
		if strings.HasSuffix(caseName, " "+suffix) {
			return bug, true
		}
	}
	return "", false
}

// longValue is far longer than any sane value of any input (64 KiB).
var longValue = strings.Repeat("x", 64<<10)

// hostileFiles creates files for the TLS cases: a file that is not PEM, a
// directory where a file is expected (unreadable as a file even for root,
// which the tests run as here) and a path that does not exist.
func hostileFiles(t *testing.T) (garbage, dir, missing string) {
	t.Helper()
	d := t.TempDir()
	garbage = filepath.Join(d, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return garbage, d, filepath.Join(d, "missing.pem")
}

// poolsCases covers every REDIS_* variable of pools/doc.go (and
// OTEL_SERVICE_NAME's one rule), through `poolscope check`, which reads the
// environment exactly as applications do.
func poolsCases(t *testing.T) []hostileCase {
	garbage, dir, missing := hostileFiles(t)
	tls := func(m map[string]string) map[string]string {
		m["REDIS_MASTER_URL"] = "rediss://:" + canary + "@db:6380/0"
		return m
	}
	var cs []hostileCase
	add := func(name, key, value string, want ...string) {
		cs = append(cs, hostileCase{name: key + " " + name, args: []string{"check"}, env: map[string]string{key: value}, want: want})
	}
	for _, key := range []string{"REDIS_MASTER_POOL_ENABLED", "REDIS_SLAVE_POOL_ENABLED", "REDIS_REPLICA_POOL_ENABLED",
		"REDIS_LOCAL_POOL_ENABLED", "REDIS_ASYNC_POOL_ENABLED", "REDIS_TLS_INSECURE_SKIP_VERIFY"} {
		for name, v := range map[string]string{"empty": "", "space": " ", "yes": "yes", "two": "2", "unicode": "ｔrue", "long": longValue} {
			add(name, key, v, key+"=", "not a flag (want 1, 0, true or false)")
		}
	}
	for _, key := range []string{"REDIS_MASTER_POOL_SIZE", "REDIS_SLAVE_POOL_SIZE", "REDIS_REPLICA_POOL_SIZE",
		"REDIS_LOCAL_POOL_SIZE", "REDIS_ASYNC_POOL_MAX"} {
		for name, v := range map[string]string{"empty": "", "space": " 5", "negative": "-1", "zero": "0", "huge": "99999999999999999999",
			"above the cap": "10001", "non-numeric": "ten", "unicode digit": "５", "float": "1.5", "long": longValue} {
			want := "not a positive integer"
			if name == "negative" || name == "zero" || name == "above the cap" {
				want = "out of range (want 1 to 10000)"
			}
			add(name, key, v, key+"=", want)
		}
	}
	for name, v := range map[string]string{"empty": "", "negative": "-1", "huge": "1e9", "above the cap": "10001", "non-numeric": "five"} {
		want := "not a whole number >= 0"
		if name == "negative" || name == "above the cap" {
			want = "out of range (want 0 to 10000)"
		}
		add(name, "REDIS_ASYNC_POOL_MIN", v, "REDIS_ASYNC_POOL_MIN=", want)
	}
	for _, key := range []string{"REDIS_MASTER_URL", "REDIS_SLAVE_URL", "REDIS_REPLICA_URL", "REDIS_LOCAL_URL", "REDIS_ASYNC_URL"} {
		for name, tc := range map[string]struct{ v, want string }{
			"empty":                {"", `="": empty`},
			"space":                {" redis://h:6379/0", "contains white space"},
			"newline":              {"redis://h:6379/0\nFLUSHALL", "contains white space"},
			"no scheme":            {"db:6379", "not a URL"},
			"http":                 {"http://db:6379", `unsupported scheme "http"`},
			"zero port":            {"redis://db:0/0", `port "0" out of range`},
			"negative port":        {"redis://db:-1/0", "not a valid Redis URL"},
			"huge port":            {"redis://:" + canary + "@db:99999/0", `="redis://***@db:99999/0": port "99999" out of range`},
			"bad database":         {"redis://u:" + canary + "@db:6379/zero", `="redis://u:***@db:6379/zero": not a valid Redis URL`},
			"unknown parameter":    {"redis://db:6379/0?pasword=" + canary, "not a valid Redis URL"},
			"unicode host":         {"redis://ｄｂ:6379/0", "="},
			"bad percent encoding": {"redis://:" + canary + "%zz@db:6379/0", "not a valid Redis URL"},
			"empty unix path":      {"unix://", "="},
			"long":                 {"redis://" + longValue + ":6379/0", "="},
		} {
			if name == "unicode host" || name == "empty unix path" || name == "long" {
				continue // valid, or not an error for pools: see TestHostileValuesAccepted
			}
			add(name, key, tc.v, key+"=", tc.want)
		}
	}
	for _, key := range []string{"REDIS_POOL_TIMEOUT", "REDIS_HEALTH_CHECK_INTERVAL"} {
		for name, tc := range map[string]struct{ v, want string }{
			"empty": {"", "not a duration"}, "negative": {"-1s", "must be positive"}, "zero": {"0", "must be positive"},
			"no unit": {"5", "not a duration"}, "huge": {"1000h", "longer than 24h"}, "overflow": {"9999999999h", "not a duration"},
			"tiny": {"1ns", "shorter than 1ms"}, "unicode": {"５s", "not a duration"}, "long": {longValue, "not a duration"},
		} {
			add(name, key, tc.v, key+"=", tc.want)
		}
	}
	for _, key := range []string{"REDIS_POOL_IDLE_TIMEOUT", "REDIS_POOL_MAX_LIFETIME"} {
		add("negative", key, "-5m", key+`="-5m": must be 0 (off) or positive`)
		add("no unit", key, "300", key+`="300": not a duration`)
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"aliases disagree on the size": {map[string]string{"REDIS_SLAVE_POOL_SIZE": "5", "REDIS_REPLICA_POOL_SIZE": "6"},
			[]string{`REDIS_REPLICA_POOL_SIZE="6" disagree`}},
		"aliases disagree on the URL": {map[string]string{"REDIS_SLAVE_URL": "redis://:" + canary + "@a:1/0", "REDIS_REPLICA_URL": "redis://:" + canary + "@b:1/0"},
			[]string{`REDIS_SLAVE_URL="redis://***@a:1/0" and REDIS_REPLICA_URL="redis://***@b:1/0" disagree`}},
		"async min above max":  {map[string]string{"REDIS_ASYNC_POOL_MIN": "30", "REDIS_ASYNC_POOL_MAX": "20"}, []string{`REDIS_ASYNC_POOL_MIN="30" is larger than REDIS_ASYNC_POOL_MAX="20"`}},
		"CA file missing":      {tls(map[string]string{"REDIS_TLS_CA_FILE": missing}), []string{`REDIS_TLS_CA_FILE="` + missing + `": cannot read the CA certificate: no such file or directory`}},
		"CA file a directory":  {tls(map[string]string{"REDIS_TLS_CA_FILE": dir}), []string{`REDIS_TLS_CA_FILE="` + dir + `": cannot read the CA certificate: is a directory`}},
		"CA file not PEM":      {tls(map[string]string{"REDIS_TLS_CA_FILE": garbage}), []string{`REDIS_TLS_CA_FILE="` + garbage + `": no PEM certificate`}},
		"CA file empty":        {tls(map[string]string{"REDIS_TLS_CA_FILE": ""}), []string{"REDIS_TLS_CA_FILE is set but empty"}},
		"CA file without TLS":  {map[string]string{"REDIS_TLS_CA_FILE": garbage}, []string{`REDIS_TLS_CA_FILE="` + garbage + `" is set but no REDIS_*_URL uses rediss://`}},
		"cert without key":     {tls(map[string]string{"REDIS_TLS_CERT_FILE": garbage}), []string{"REDIS_TLS_CERT_FILE=", "set without REDIS_TLS_KEY_FILE"}},
		"key without cert":     {tls(map[string]string{"REDIS_TLS_KEY_FILE": garbage}), []string{"REDIS_TLS_KEY_FILE=", "set without REDIS_TLS_CERT_FILE"}},
		"cert and key garbage": {tls(map[string]string{"REDIS_TLS_CERT_FILE": garbage, "REDIS_TLS_KEY_FILE": garbage}), []string{"REDIS_TLS_CERT_FILE=", "REDIS_TLS_KEY_FILE="}},
		"cert and key missing": {tls(map[string]string{"REDIS_TLS_CERT_FILE": missing, "REDIS_TLS_KEY_FILE": missing}), []string{"REDIS_TLS_CERT_FILE=", "no such file or directory"}},
		"server name spaces":   {tls(map[string]string{"REDIS_TLS_SERVER_NAME": "db internal"}), []string{`REDIS_TLS_SERVER_NAME="db internal": not a host name`}},
		"server name URL":      {tls(map[string]string{"REDIS_TLS_SERVER_NAME": "https://db"}), []string{`REDIS_TLS_SERVER_NAME="https://db": not a host name`}},
		"server name empty":    {tls(map[string]string{"REDIS_TLS_SERVER_NAME": ""}), []string{`REDIS_TLS_SERVER_NAME="": not a host name`}},
		"sentinel without master": {map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379"},
			[]string{`REDIS_SENTINEL_ADDRS="s1:26379" is set without REDIS_SENTINEL_MASTER`}},
		"sentinel master without addrs": {map[string]string{"REDIS_SENTINEL_MASTER": "mymaster"},
			[]string{`REDIS_SENTINEL_MASTER="mymaster" is set without REDIS_SENTINEL_ADDRS`}},
		"sentinel addr without port": {map[string]string{"REDIS_SENTINEL_ADDRS": "s1,s2:26379", "REDIS_SENTINEL_MASTER": "m"},
			[]string{`REDIS_SENTINEL_ADDRS="s1,s2:26379": "s1" is not host:port`}},
		"sentinel addr huge port": {map[string]string{"REDIS_SENTINEL_ADDRS": "s1:99999", "REDIS_SENTINEL_MASTER": "m"},
			[]string{`"s1:99999" is not host:port`}},
		"sentinel addrs empty": {map[string]string{"REDIS_SENTINEL_ADDRS": "", "REDIS_SENTINEL_MASTER": "m"},
			[]string{`REDIS_SENTINEL_ADDRS="": empty`}},
		"sentinel master with newline": {map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m\nx"},
			[]string{`REDIS_SENTINEL_MASTER="m\nx": not a master name`}},
		"sentinel password without addrs": {map[string]string{"REDIS_SENTINEL_PASSWORD": canary},
			[]string{"REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINEL_ADDRS"}},
		"sentinel password empty": {map[string]string{"REDIS_SENTINEL_PASSWORD": "", "REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m"},
			[]string{"REDIS_SENTINEL_PASSWORD is set but empty"}},
		// Issue 15, item 3: misspelt names of poolscope's variables. The
		// value is never shown (a misspelt REDIS_MASTR_URL carries a password).
		"near-miss without separator": {map[string]string{"REDIS_MASTER_POOLSIZE": "50"},
			[]string{"pools: REDIS_MASTER_POOLSIZE is not a poolscope variable; did you mean REDIS_MASTER_POOL_SIZE?"}},
		"near-miss with a letter missing": {map[string]string{"REDIS_MASTR_POOL_SIZE": "50"},
			[]string{"did you mean REDIS_MASTER_POOL_SIZE?"}},
		"near-miss in lower case": {map[string]string{"redis_master_pool_size": "50"},
			[]string{"pools: redis_master_pool_size is not a poolscope variable; did you mean REDIS_MASTER_POOL_SIZE?"}},
		"near-miss holding a password": {map[string]string{"REDIS_MASTR_URL": "redis://:" + canary + "@db:6379/0"},
			[]string{"pools: REDIS_MASTR_URL is not a poolscope variable; did you mean REDIS_MASTER_URL?"}},
		"near-miss next to a bad value": {map[string]string{"REDIS_SENTINEL_ADDR": "s1:26379", "REDIS_POOL_TIMEOUT": "soon"},
			[]string{`REDIS_POOL_TIMEOUT="soon": not a duration`, "did you mean REDIS_SENTINEL_ADDRS?"}},
		"sentinel with a unix master": {map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_MASTER_URL": "unix:///run/redis.sock"},
			[]string{`REDIS_MASTER_URL="unix:///run/redis.sock": a unix socket cannot be combined with REDIS_SENTINEL_ADDRS`}},
	} {
		cs = append(cs, hostileCase{name: name, args: []string{"check"}, env: tc.env, want: tc.want})
	}
	return cs
}

// exportersCases covers the OTEL_* variables of exporters/doc.go, through
// `poolscope agent`, which builds its pipeline from them. --redis keeps the
// REDIS_* variables out of the way.
func exportersCases(t *testing.T) []hostileCase {
	garbage, _, missing := hostileFiles(t)
	var cs []hostileCase
	add := func(name string, env map[string]string, want ...string) {
		cs = append(cs, hostileCase{name: name, args: []string{"agent", "--redis", "redis://127.0.0.1:1/0"}, env: env, want: want})
	}
	one := func(key, value string, want ...string) {
		add(key+"="+clipName(value), map[string]string{key: value}, want...)
	}
	one("OTEL_METRICS_EXPORTER", "foo", `OTEL_METRICS_EXPORTER="foo": unknown exporter`)
	one("OTEL_METRICS_EXPORTER", "otlp,none", `OTEL_METRICS_EXPORTER="otlp,none": none cannot be combined`)
	one("OTEL_METRICS_EXPORTER", ",", `OTEL_METRICS_EXPORTER=",": no exporter named`)
	one("OTEL_METRICS_EXPORTER", "ｏtlp", `OTEL_METRICS_EXPORTER="ｏtlp": unknown exporter`)
	for _, key := range []string{"OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"} {
		for _, v := range []string{"-1", "0", "10s", "1.5", "99999999999999999999", "٣"} {
			one(key, v, key+"=", "not a positive whole number of milliseconds")
		}
	}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"} {
		one(key, "http/json", key+`="http/json": not implemented`)
		one(key, "udp", key+`="udp": unknown protocol`)
	}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		one(key, "http://user:"+canary+"@collector:4318", key+`="http://user:***@collector:4318": credentials in the URL are not sent`)
		one(key, "https://"+canary+"@collector:4318", key+`="https://***@collector:4318"`)
		one(key, "ftp://collector:21", key+`="ftp://collector:21": unsupported scheme`)
		one(key, "http://", key+`="http://": no host`)
		one(key, "collector", key+`="collector": want a URL`)
		one(key, "collector:99999", key+`="collector:99999": want a URL`)
		one(key, "http://collector:4318/%zz", key+`="http://collector:4318/%zz": not a valid URL`)
	}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"} {
		one(key, canary, key+": entry 1 is not key=value")
		one(key, "Authorization=Bearer%20"+canary+"%zz", key+`: value of header "Authorization" is not valid percent-encoding`)
		one(key, "Authorization=Bearer%20"+canary+"%0D%0AX-Injected:%201", key+`: value of header "Authorization" holds control characters`)
		one(key, "bad key="+canary, key+`: entry 1: "bad key" is not a valid header name`)
		one(key, "ключ="+canary, key+`: entry 1: "ключ" is not a valid header name`)
	}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION"} {
		one(key, "zstd", key+`="zstd": unknown compression`)
	}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_METRICS_INSECURE"} {
		one(key, "yes", key+`="yes": not a boolean`)
	}
	one("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes", `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="sometimes": unknown temporality`)
	one("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "linear", `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION="linear"`)
	https := func(m map[string]string) map[string]string {
		m["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://collector:4318"
		return m
	}
	add("CA file missing", https(map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": missing}),
		`OTEL_EXPORTER_OTLP_CERTIFICATE="`+missing+`": cannot read the CA certificate`)
	add("CA file not PEM", https(map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": garbage}),
		`OTEL_EXPORTER_OTLP_CERTIFICATE="`+garbage+`": no PEM certificate`)
	add("client cert without key", https(map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": garbage}),
		`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="`+garbage+`": set without OTEL_EXPORTER_OTLP_CLIENT_KEY`)
	add("client key without cert", https(map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY": garbage}),
		`OTEL_EXPORTER_OTLP_CLIENT_KEY="`+garbage+`": set without OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`)
	add("client cert and key missing", https(map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": missing, "OTEL_EXPORTER_OTLP_CLIENT_KEY": missing}),
		`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="`+missing+`": cannot load the client certificate`)
	add("CA file with a plain http endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": garbage},
		`OTEL_EXPORTER_OTLP_CERTIFICATE="`+garbage+`": set, but the OTLP endpoint "http://collector:4318" is not TLS`)
	prom := func(m map[string]string) map[string]string { m["OTEL_METRICS_EXPORTER"] = "prometheus"; return m }
	for _, v := range []string{"-1", "70000", "http", "9464 "} {
		if v == "9464 " {
			continue // trimmed, so valid: exporters trims every value
		}
		add("prometheus port "+v, prom(map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": v}), `OTEL_EXPORTER_PROMETHEUS_PORT="`+v+`": not a port number`)
	}
	one("OTEL_RESOURCE_ATTRIBUTES", "novalue", `OTEL_RESOURCE_ATTRIBUTES="novalue": entry "novalue" is not key=value`)
	one("OTEL_RESOURCE_ATTRIBUTES", "=x", `OTEL_RESOURCE_ATTRIBUTES="=x": entry "=x" has an empty key`)
	one("OTEL_RESOURCE_ATTRIBUTES", "k=%zz", `OTEL_RESOURCE_ATTRIBUTES="k=%zz": value of "k" is not valid percent-encoding`)
	return cs
}

// agentCases covers every flag of `poolscope agent --help`.
func agentCases() []hostileCase {
	var cs []hostileCase
	add := func(name string, args []string, want ...string) {
		cs = append(cs, hostileCase{name: name, args: append([]string{"agent", "--redis", "redis://127.0.0.1:1/0"}, args...), want: want})
	}
	flagValue := func(flagName, value string, want ...string) {
		add("--"+flagName+"="+clipName(value), []string{"--" + flagName + "=" + value}, want...)
	}
	for v, want := range map[string]string{"": "not a duration", " 5s": "not a duration", "-5s": "want 100ms to 1h0m0s", "0": "want 100ms to 1h0m0s",
		"5": "not a duration", "1ms": "want 100ms to 1h0m0s", "2h": "want 100ms to 1h0m0s", "9999999999h": "not a duration", "５s": "not a duration"} {
		flagValue("interval", v, `agent: --interval=`, want)
	}
	for _, v := range []string{"", "x", "1e3", "99999999999999999999", "٣", " 1"} {
		flagValue("pid", v, `agent: --pid="`, "not a process id")
	}
	for _, v := range []string{"0", "-1"} {
		flagValue("pid", v, `agent: --pid="`+v+`": not a process id`)
	}
	flagValue("pidfile", "", `agent: --pidfile="": empty`)
	flagValue("match", "", `agent: --match="": empty`)
	flagValue("match", "(", `agent: --match="(": not a regular expression`)
	flagValue("match", "a{1001}", `agent: --match="a{1001}": not a regular expression`)
	for _, name := range []string{"discover-every", "top-names"} {
		for _, v := range []string{"", "x", "0", "-1", "1001", "99999999999999999999"} {
			flagValue(name, v, "agent: --"+name+`="`+v+`": `)
		}
	}
	for _, name := range []string{"client-list-max-clients", "client-list-every"} {
		for _, v := range []string{"", "x", "-1", "1.5", "99999999999999999999"} {
			flagValue(name, v, "agent: --"+name+`="`+v+`": `)
		}
	}
	add("--client-list-every without CLIENT LIST", []string{"--client-list-every", "5", "--client-list-max-clients", "0"},
		`agent: --client-list-every="5": CLIENT LIST is off (--client-list-max-clients=0)`)
	for v, want := range map[string]string{
		"":                                      `--redis="": empty (want redis://`,
		"http://db:6379":                        `--redis="http://db:6379": unsupported scheme "http"`,
		"redis://:" + canary + "@db:99999/0":    `--redis="redis://***@db:99999/0": port "99999" out of range`,
		"redis://user:" + canary + "@db:6379/x": `--redis="redis://user:***@db:6379/x": not a valid Redis URL`,
		"redis://[::1":                          `--redis="redis://[::1": not a valid Redis URL`,
		"redis://" + longValue:                  `--redis="redis://xxxx`,
		"redis://" + longValue + "@h:1/0":       `--redis="redis://***@h:1/0": longer than 4096 bytes`,
	} {
		flagValue("redis", v, "agent: "+want)
	}
	for _, v := range []string{"", "LOUD", "trace", "ｄebug"} {
		flagValue("log-level", v, `agent: --log-level="`+v+`": want debug, info, warn or error`)
	}
	for _, v := range []string{"", "xml", "JSON "} {
		flagValue("log-format", v, `agent: --log-format="`+v+`": want text or json`)
	}
	for _, name := range []string{"self", "discover", "pss"} {
		flagValue(name, "maybe", `agent: invalid boolean value "maybe" for -`+name)
	}
	add("unknown flag", []string{"--password", canary}, "agent: flag provided but not defined: -password")
	add("stray argument", []string{"redis://:" + canary + "@db:6379/0"}, `agent: unexpected argument "redis://***@db:6379/0"`)
	flagValue("pidfile", longValue, `agent: --pidfile="xxxx`, "... (65536 bytes)\": longer than 4096 bytes")
	flagValue("match", longValue, `agent: --match="xxxx`, "longer than 4096 bytes")
	flagValue("interval", longValue, `agent: --interval="xxxx`, "not a duration")
	return cs
}

// checkCases covers `poolscope check`'s flags and the command table.
func checkCases() []hostileCase {
	var cs []hostileCase
	add := func(name string, args []string, want ...string) {
		cs = append(cs, hostileCase{name: name, args: args, want: want})
	}
	for v, want := range map[string]string{"": "invalid value", "0": `--timeout="0s": must be positive`, "-1s": `--timeout="-1s": must be positive`,
		"soon": "invalid value", "9999999999h": "invalid value", "1": "invalid value", "1ns": `--timeout="1ns": shorter than 1ms`, "48h": `--timeout="48h0m0s": longer than 1h`} {
		add("--timeout="+v, []string{"check", "--timeout=" + v}, want)
	}
	add("--json=maybe", []string{"check", "--json=maybe"}, `invalid boolean value "maybe" for -json`)
	add("--connect=2", []string{"check", "--connect=2"}, `invalid boolean value "2" for -connect`)
	add("unknown flag", []string{"check", "--password=" + canary}, "flag provided but not defined: -password")
	add("stray argument", []string{"check", "redis://:" + canary + "@db:6379/0"}, `poolscope check: unexpected argument "redis://***@db:6379/0"`)
	add("unknown command", []string{"chekc"}, `poolscope: unknown command "chekc"`)
	add("empty command", []string{""}, `poolscope: unknown command ""`)
	add("unicode command", []string{"ｃheck"}, `poolscope: unknown command "ｃheck"`)
	add("command that is a secret", []string{"redis://:" + canary + "@db:6379/0"}, `poolscope: unknown command "redis://***@db:6379/0"`)
	add("no command", nil, "Usage: poolscope <command>")
	return cs
}

func clipName(s string) string {
	if len(s) > 48 {
		return fmt.Sprintf("%s...(%d)", s[:40], len(s))
	}
	return s
}

// runHostile runs the CLI in-process with only the given environment and
// turns a panic into a test failure that names the case.
func runHostile(t *testing.T, tc hostileCase) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	// A case that is wrongly accepted starts the agent: the deadline ends it
	// (and the test fails on the exit status) instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		code = run(ctx, env{args: tc.args, stdout: &out, stderr: &errOut,
			lookup:  func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok },
			environ: func() []string { return environOf(tc.env) }})
	}()
	return code, out.String(), errOut.String()
}

// TestHostileInputs gives every environment variable and flag hostile values:
// each must end with exit status 2 and a clear message on stderr that names
// the input, never a panic, never the canary password, never output on
// stdout, and never one unbounded line (a 64 KiB value is not echoed whole
// more than once).
func TestHostileInputs(t *testing.T) {
	groups := map[string][]hostileCase{
		"pools":     poolsCases(t),
		"exporters": exportersCases(t),
		"agent":     agentCases(),
		"check":     checkCases(),
		"advise":    adviseCases(),
	}
	total := 0
	for group, cases := range groups {
		total += len(cases)
		t.Run(group, func(t *testing.T) {
			seen := map[string]bool{}
			for _, tc := range cases {
				if seen[tc.name] {
					t.Fatalf("two cases named %q", tc.name)
				}
				seen[tc.name] = true
				t.Run(tc.name, func(t *testing.T) {
					code, stdout, stderr := runHostile(t, tc)
					if code != exitUsage {
						t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, clipName(stderr))
					}
					for _, w := range tc.want {
						if !strings.Contains(stderr, w) {
							t.Errorf("stderr lacks %q:\n%.2000s", w, stderr)
						}
					}
					leaks := strings.Contains(stdout+stderr, canary)
					switch bug, known := knownLeak(tc.name); {
					case known && leaks:
						t.Logf("known leak, %s:\n%s", bug, stderr)
					case known:
						t.Errorf("fixed: %s; remove the case from knownLeaks", bug)
					case leaks:
						t.Errorf("output shows the canary password:\n%s\n%s", stdout, stderr)
					}
					if stdout != "" && len(tc.args) > 0 {
						t.Errorf("stdout = %.200q, want nothing", stdout)
					}
					if n := strings.Count(stderr, longValue); n > 1 {
						t.Errorf("the 64 KiB value is echoed %d times", n)
					}
					checkLinePrefixes(t, stderr)
				})
			}
		})
	}
	t.Logf("%d hostile cases", total)
}

// checkLinePrefixes: every line of an error report says which part of
// poolscope speaks, so that a user can tell a pools variable from a flag.
func checkLinePrefixes(t *testing.T, stderr string) {
	t.Helper()
	if strings.HasPrefix(stderr, "Usage:") {
		return
	}
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		ok := false
		for _, p := range []string{"pools: ", "exporters: ", "agent: ", "poolscope: ", "poolscope check: ", "Usage:", "Commands:", "  ", "Run 'poolscope", ""} {
			if strings.HasPrefix(line, p) {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("line without a package prefix: %.300q", line)
		}
	}
}

// TestHostileValuesAccepted pins values that look hostile but are valid, so
// that a change in behaviour is a decision: they must not be errors.
func TestHostileValuesAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"unicode host", map[string]string{"REDIS_MASTER_URL": "redis://ｄｂ:6379/0"}},
		// go-redis reads an empty host as localhost.
		{"no host", map[string]string{"REDIS_MASTER_URL": "redis://:6379/0"}},
		// A user name without a password; check shows it as ***.
		{"password in the user part", map[string]string{"REDIS_MASTER_URL": "redis://" + canary + "@db:6379/0"}},
		{"service name with spaces, newlines and unicode", map[string]string{"OTEL_SERVICE_NAME": "check out\nFLUSHALL ☃"}},
		{"service name of 64 KiB", map[string]string{"OTEL_SERVICE_NAME": longValue}},
		{"empty service name", map[string]string{"OTEL_SERVICE_NAME": ""}},
		// Issue 15, item 4: the service name may come from the resource
		// attributes, percent-decoded: still sanitised.
		{"service name in OTEL_RESOURCE_ATTRIBUTES with CR, LF and unicode", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=check%0D%0AFLUSHALL%E2%98%83"}},
		// Other programs' variables are not near-misses of poolscope's.
		{"other programs' REDIS_* variables", map[string]string{"REDIS_PASSWORD": canary, "REDIS_VERSION": "7.2", "REDIS_URL": "redis://:" + canary + "@db:6379/0",
			"REDIS_HOST": "db", "REDIS_PORT": "6379", "REDIS_MASTER_HOST": "db", "REDIS_TLS_PORT": "6380"}},
		// Issue 15, items 6 and 7: notes on stderr, exit 0.
		{"only the master URL", map[string]string{"REDIS_MASTER_URL": "redis://:" + canary + "@db:6379/0"}},
		{"TLS not verified", map[string]string{"REDIS_MASTER_URL": "rediss://:" + canary + "@db:6380/0", "REDIS_TLS_INSECURE_SKIP_VERIFY": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runHostile(t, hostileCase{args: []string{"check", "--json"}, env: tc.env})
			if code != exitOK {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			if len(stdout) > 8<<10 {
				t.Errorf("check printed %d bytes: a long value is echoed", len(stdout))
			}
			if strings.ContainsAny(strings.ReplaceAll(stdout, "\n", ""), "\r☃") {
				t.Errorf("check prints an unsanitised client name:\n%s", stdout)
			}
			if strings.Contains(stdout+stderr, canary) || strings.Contains(stderr, "did you mean") {
				t.Errorf("a password or a near-miss in the output:\n%s\n%s", stdout, stderr)
			}
		})
	}
}

func TestHostileCaseCount(t *testing.T) {
	// Guards against a refactor that silently drops a group.
	n := len(poolsCases(t)) + len(exportersCases(t)) + len(agentCases()) + len(checkCases())
	if n < 300 {
		t.Errorf("%d hostile cases, want at least 300", n)
	}
}
