package pools

import (
	"slices"
	"strings"
)

// Variables lists every REDIS_* variable LoadConfig reads (the table in the
// package documentation), in that table's order.
var Variables = []string{
	"REDIS_MASTER_POOL_ENABLED", "REDIS_MASTER_POOL_SIZE",
	"REDIS_SLAVE_POOL_ENABLED", "REDIS_REPLICA_POOL_ENABLED", "REDIS_SLAVE_POOL_SIZE", "REDIS_REPLICA_POOL_SIZE",
	"REDIS_LOCAL_POOL_ENABLED", "REDIS_LOCAL_POOL_SIZE",
	"REDIS_ASYNC_POOL_ENABLED", "REDIS_ASYNC_POOL_MIN", "REDIS_ASYNC_POOL_MAX",
	"REDIS_MASTER_URL", "REDIS_SLAVE_URL", "REDIS_REPLICA_URL", "REDIS_LOCAL_URL", "REDIS_ASYNC_URL",
	"REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_TLS_SERVER_NAME", "REDIS_TLS_INSECURE_SKIP_VERIFY",
	"REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD",
	"REDIS_POOL_TIMEOUT", "REDIS_POOL_IDLE_TIMEOUT", "REDIS_POOL_MAX_LIFETIME", "REDIS_HEALTH_CHECK_INTERVAL",
}

// NearMiss is a variable set in the environment whose name is almost one
// of Variables: most likely a typo that leaves a default in place.
type NearMiss struct {
	Name    string // as set
	Closest string // the variable of Variables it most resembles
}

func (m NearMiss) String() string {
	return m.Name + " is not a poolscope variable; did you mean " + m.Closest + "?"
}

// maxTypoEdits is how many single-character edits (insert, delete,
// substitute, swap two neighbours) a name may be from a known one to count
// as a typo of it. Two catch a dropped or doubled letter plus one more slip
// (REDIS_MASTR_POOL_SIZE, REDIS_MASTER_POOL_SIZ); every known name is at
// least 15 characters, and other programs' REDIS_* variables (REDIS_URL,
// REDIS_PASSWORD, REDIS_VERSION, REDIS_MASTER_HOST, REDIS_TLS_PORT...) are
// three or more edits from all of them.
const maxTypoEdits = 2

// NearMisses returns the names that are near-misses of Variables, in the
// order given. The rule: a name that is not itself one of Variables is a
// near-miss when, after upper-casing it and turning '-' and '.' into '_',
//
//   - it is one of Variables (a lower-case or dotted spelling), or
//   - it equals one of Variables once every '_' is removed from both
//     (REDIS_MASTER_POOLSIZE), or
//   - it is at most maxTypoEdits edits (optimal string alignment distance)
//     from one of Variables (REDIS_MASTR_POOL_SIZE).
//
// The closest variable is the one with the fewest edits, the first in
// Variables on a tie. Anything else is some other program's variable and
// is left alone.
func NearMisses(names []string) []NearMiss {
	var out []NearMiss
	for _, name := range names {
		if slices.Contains(Variables, name) {
			continue
		}
		if closest, ok := nearMiss(name); ok {
			out = append(out, NearMiss{Name: name, Closest: closest})
		}
	}
	return out
}

func nearMiss(name string) (closest string, ok bool) {
	norm := strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
	squashed := strings.ReplaceAll(norm, "_", "")
	best := maxTypoEdits + 1
	for _, known := range Variables {
		if norm == known || squashed == strings.ReplaceAll(known, "_", "") {
			return known, true
		}
		if d := editDistance(norm, known, best); d < best {
			closest, best = known, d
		}
	}
	return closest, best <= maxTypoEdits
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein plus swaps of two neighbours), or limit when it is at least
// limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}
