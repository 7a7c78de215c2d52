package advise

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// budgets computes every server's fleet budget before and after the advice
// and caps growth so that the budget after stays within the server's share
// of maxclients. It changes the advice of capped pools in place.
func (c config) budgets(servers []Server, advice []PoolAdvice) []ServerBudget {
	maxClients := map[string]int{}
	for _, s := range servers {
		if s.Address != "" {
			maxClients[s.Address] = max(maxClients[s.Address], s.MaxClients)
		}
	}
	members := map[string][]int{}
	for i, a := range advice {
		if a.Server != "" {
			members[a.Server] = append(members[a.Server], i)
		}
	}
	var out []ServerBudget
	for addr, idx := range members {
		out = append(out, c.budget(addr, maxClients[addr], idx, advice))
	}
	for addr, mc := range maxClients {
		if _, ok := members[addr]; !ok {
			out = append(out, ServerBudget{Server: addr, MaxClients: mc, Limit: c.limit(mc), Fits: mc > 0,
				Note: "no pool seen pointing at it"})
		}
	}
	slices.SortFunc(out, func(a, b ServerBudget) int { return cmp.Compare(a.Server, b.Server) })
	return out
}

func (c config) limit(maxClients int) int {
	if maxClients <= 0 {
		return 0
	}
	return int(math.Floor(float64(maxClients) * c.budgetFraction))
}

func (c config) budget(addr string, maxClients int, idx []int, advice []PoolAdvice) ServerBudget {
	b := ServerBudget{Server: addr, MaxClients: max(maxClients, 0), Limit: c.limit(maxClients)}
	for _, i := range idx {
		a := advice[i]
		b.Pools = append(b.Pools, a.Service+"/"+a.Pool)
		b.Before += a.Processes * (a.Current + a.Extra)
	}
	slices.Sort(b.Pools)
	b.After = budgetAfter(idx, advice)
	switch {
	case b.Limit == 0:
		b.Note = "maxclients unknown (redis_clients_max, reported by poolscope's agent): the budget cannot be checked"
		return b
	case b.After > b.Limit:
		b.After = capGrowth(b.Limit, idx, advice)
	}
	b.Fits = b.After <= b.Limit
	if !b.Fits {
		b.Note = fmt.Sprintf("even without growth the fleet may open %d connections, above %d (%.0f%% of maxclients %d): lower sizes, run fewer processes or raise maxclients",
			b.After, b.Limit, c.budgetFraction*100, maxClients)
	}
	return b
}

func budgetAfter(idx []int, advice []PoolAdvice) int {
	n := 0
	for _, i := range idx {
		n += advice[i].Processes * (advice[i].Recommended + advice[i].Extra)
	}
	return n
}

// capGrowth takes connections back from the growing pools of a server, one
// process-wide step at a time from the pool that grows most, until the
// budget fits the limit or no growth is left; it returns the budget after.
// Shrinks and kept sizes are never touched: growth is what the advice adds.
func capGrowth(limit int, idx []int, advice []PoolAdvice) int {
	after := budgetAfter(idx, advice)
	for after > limit {
		best := -1
		for _, i := range idx {
			a := advice[i]
			if a.Verdict == Grow && a.Recommended > a.Current &&
				(best < 0 || a.Recommended-a.Current > advice[best].Recommended-advice[best].Current) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		// Take back as many connections per process as the excess needs at once.
		a := &advice[best]
		step := min(a.Recommended-a.Current, max(1, (after-limit+a.Processes-1)/a.Processes))
		a.Recommended -= step
		a.CappedByServer = true
		after -= step * a.Processes
	}
	for _, i := range idx {
		if advice[i].CappedByServer {
			advice[i] = capped(advice[i])
		}
	}
	return after
}

// capped rewrites the advice of a pool whose growth the budget reduced.
func capped(a PoolAdvice) PoolAdvice {
	// The wait at the capped size comes from the model that sized the
	// pool (the closed M/M/c//N one for a known number of callers), not
	// the open queue on the demand quantile, which calls any size below
	// that demand unbounded; unknown (NaN) where no model sized it (a
	// size raised for bursts).
	a.ExpectedWaitP99 = math.NaN()
	if a.waitAtSize != nil {
		a.ExpectedWaitP99 = a.waitAtSize(a.Recommended)
	}
	a.Reason = fmt.Sprintf("%s; capped at %d so that the fleet budget of %s stays within its share of maxclients", a.Reason, a.Recommended, a.Server)
	if a.Recommended == a.Current {
		a.Verdict = Keep
	}
	a.RecommendedMin = min(a.CurrentMin, a.Recommended)
	return a.withCosts()
}
