package pools

import (
	"slices"
	"sort"
	"testing"
)

// TestNearMisses pins the rule of NearMisses: typos of poolscope's own
// names are caught, other programs' REDIS_* variables are not.
func TestNearMisses(t *testing.T) {
	for name, want := range map[string]string{
		"REDIS_MASTER_POOLSIZE":          "REDIS_MASTER_POOL_SIZE", // a missing separator
		"REDIS_MASTR_POOL_SIZE":          "REDIS_MASTER_POOL_SIZE", // a missing letter
		"redis_master_pool_size":         "REDIS_MASTER_POOL_SIZE", // lower case
		"Redis_Master_Url":               "REDIS_MASTER_URL",
		"REDIS-MASTER-URL":               "REDIS_MASTER_URL",
		"REDIS_MASTER_POOL_SIZ":          "REDIS_MASTER_POOL_SIZE",
		"REIDS_MASTER_URL":               "REDIS_MASTER_URL", // two letters swapped
		"REDIS_SLAVE_POOL_SIZES":         "REDIS_SLAVE_POOL_SIZE",
		"REDIS_ASYNC_POOL_MINIMUM":       "",
		"REDIS_TLS_INSECURE_SKIPVERIFY":  "REDIS_TLS_INSECURE_SKIP_VERIFY",
		"REDIS_SENTINEL_ADDR":            "REDIS_SENTINEL_ADDRS",
		"REDIS_HEALTHCHECK_INTERVAL":     "REDIS_HEALTH_CHECK_INTERVAL",
		"REDIS_POOL_IDLE_TIMEOUTS":       "REDIS_POOL_IDLE_TIMEOUT",
		"REDIS_REPLICA_POOL_ENABLE":      "REDIS_REPLICA_POOL_ENABLED",
		"REDIS_MASTER_POOL_SIZE":         "", // exact: not a miss
		"REDIS_PASSWORD":                 "", // other programs' variables
		"REDIS_VERSION":                  "",
		"REDIS_URL":                      "",
		"REDIS_HOST":                     "",
		"REDIS_PORT":                     "",
		"REDIS_DB":                       "",
		"REDIS_ADDR":                     "",
		"REDIS_MASTER_HOST":              "",
		"REDIS_MASTER_PORT_NUMBER":       "",
		"REDIS_MASTER_PASSWORD":          "",
		"REDIS_REPLICA_HOST":             "",
		"REDIS_REPLICA_PORT":             "",
		"REDIS_TLS_ENABLED":              "",
		"REDIS_TLS_PORT":                 "",
		"REDIS_TLS_CA_DIR":               "",
		"REDIS_SENTINEL_HOST":            "",
		"REDIS_SENTINEL_PORT":            "",
		"REDIS_SENTINEL_MASTER_NAME":     "",
		"REDIS_AOF_ENABLED":              "",
		"REDIS_REPLICATION_MODE":         "",
		"REDIS_PORT_NUMBER":              "",
		"OTEL_SERVICE_NAME":              "",
		"PATH":                           "",
		"":                               "",
		"REDIS_ASYNC_POOL_MAXIMUM_CONNS": "",
	} {
		got := NearMisses([]string{name})
		switch {
		case want == "" && len(got) > 0:
			t.Errorf("%q: near-miss of %s, want none", name, got[0].Closest)
		case want != "" && (len(got) != 1 || got[0].Closest != want):
			t.Errorf("%q: %v, want a near-miss of %s", name, got, want)
		}
	}
}

// TestVariablesIsComplete: Variables lists exactly the REDIS_* names that
// LoadConfig reads, so that no real variable can be called a near-miss.
func TestVariablesIsComplete(t *testing.T) {
	asked := map[string]bool{}
	_, _ = LoadConfig(func(k string) (string, bool) { asked[k] = true; return "", false })
	var read []string
	for k := range asked {
		if len(k) > 6 && k[:6] == "REDIS_" {
			read = append(read, k)
		}
	}
	sort.Strings(read)
	known := slices.Sorted(slices.Values(Variables))
	if !slices.Equal(read, known) {
		t.Errorf("LoadConfig reads %v\nVariables lists %v", read, known)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"abc", "ab", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := editDistance(tc.a, tc.b, 10); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
