package advise

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// ProcessMemory is one process's resident memory and open Redis
// connections, step by step over the window (the same steps in both; NaN
// where a step has no sample).
type ProcessMemory struct {
	Resident    []float64 // bytes (the agent's process.memory.usage: RSS)
	Connections []float64 // open connections of every pool of the process
}

// MemoryEstimate is the memory per connection used for a service's costs,
// and where it comes from.
type MemoryEstimate struct {
	Service            string
	BytesPerConnection float64 // what the costs use
	Measured           bool    // true: the fit; false: the fall-back figure
	Reason             string  // how it was measured, or why it could not be

	// The fit, when one was computed (NaN otherwise): the slope of RSS over
	// open connections and its standard error, bytes.
	Slope, StdErr float64
	Processes     int     // processes with samples
	Samples       int     // steps with both figures, over every process
	Spread        float64 // standard deviation of connections within the processes; NaN without samples
}

// Bounds of a measured memory per connection, and why.
const (
	// MinMemorySamples: fewer steps than this cannot show a trend.
	MinMemorySamples = 10
	// MinConnectionSpread is the least standard deviation of open
	// connections within the processes (about the mean of each) the fit
	// accepts: a process whose pool never opened or closed a connection
	// says nothing about what one costs.
	MinConnectionSpread = 1.0
	// MinBytesPerConnection and MaxBytesPerConnection bound a sane slope:
	// a go-redis connection holds two buffers and a net.Conn, 15 to 17 KiB
	// by `make memtable`, more with TLS; a slope outside this range is
	// something else moving the RSS (the heap of the work itself).
	MinBytesPerConnection = 1 << 10
	MaxBytesPerConnection = 1 << 20
	// MaxMemoryRelativeError is the largest standard error, as a fraction
	// of the slope, that the fit reports as a measurement.
	MaxMemoryRelativeError = 0.25
)

// EstimateMemoryPerConnection measures the resident memory one connection
// costs the service's processes: the least-squares slope of RSS over open
// connections, within each process (each process's own mean RSS and mean
// connections are taken out first, so that processes with different heaps
// do not pass their difference off as the connections' cost). When the
// data cannot tell it (no samples, too little spread in the connection
// counts, a slope outside the sane range or too uncertain), it returns
// fallback with the reason.
func EstimateMemoryPerConnection(service string, procs []ProcessMemory, fallback float64, fallbackName string) MemoryEstimate {
	e := MemoryEstimate{Service: service, BytesPerConnection: fallback, Slope: math.NaN(), StdErr: math.NaN(), Spread: math.NaN()}
	var sxx, sxy, syy float64
	for _, p := range procs {
		xs, ys := pairs(p)
		if len(xs) == 0 {
			continue
		}
		e.Processes++
		e.Samples += len(xs)
		mx, my := average(xs), average(ys)
		for i := range xs {
			dx, dy := xs[i]-mx, ys[i]-my
			sxx, sxy, syy = sxx+dx*dx, sxy+dx*dy, syy+dy*dy
		}
	}
	fall := func(why string) MemoryEstimate {
		e.Reason = fallbackName + ": " + why
		return e
	}
	if e.Samples == 0 {
		return fall("no process of the service has both an RSS and a connection count in the window")
	}
	e.Spread = math.Sqrt(sxx / float64(e.Samples))
	// One degree of freedom per process's mean, one for the slope.
	dof := e.Samples - e.Processes - 1
	if e.Samples < MinMemorySamples || dof < 1 {
		return fall(fmt.Sprintf("%d sample(s) of RSS and connections over %d process(es), need %d", e.Samples, e.Processes, MinMemorySamples))
	}
	if e.Spread < MinConnectionSpread {
		return fall(fmt.Sprintf("open connections hardly changed within the processes (spread %.2f, need %g): RSS against them says nothing",
			e.Spread, MinConnectionSpread))
	}
	e.Slope = sxy / sxx
	residual := math.Max(syy-e.Slope*sxy, 0) / float64(dof)
	e.StdErr = math.Sqrt(residual / sxx)
	fit := fmt.Sprintf("RSS over open connections within %d process(es), %d samples, spread %.1f connections: %s ± %s per connection",
		e.Processes, e.Samples, e.Spread, formatSignedBytes(e.Slope), FormatBytes(e.StdErr))
	switch {
	case e.StdErr > MaxMemoryRelativeError*math.Abs(e.Slope):
		return fall(fmt.Sprintf("%s, too uncertain (more than %.0f%%)", fit, MaxMemoryRelativeError*100))
	case e.Slope < MinBytesPerConnection || e.Slope > MaxBytesPerConnection:
		return fall(fmt.Sprintf("%s, outside %s to %s: something else moves the RSS", fit,
			FormatBytes(MinBytesPerConnection), FormatBytes(MaxBytesPerConnection)))
	}
	e.BytesPerConnection, e.Measured = e.Slope, true
	e.Reason = "measured: " + fit
	return e
}

// pairs are the steps where both figures are usable.
func pairs(p ProcessMemory) (xs, ys []float64) {
	for i := range min(len(p.Connections), len(p.Resident)) {
		x, y := p.Connections[i], p.Resident[i]
		if nonNegative(x) && nonNegative(y) && y > 0 {
			xs, ys = append(xs, x), append(ys, y)
		}
	}
	return xs, ys
}

func average(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// FormatBytes prints a size the way memory is read: 20 KiB, 1.5 MiB.
func FormatBytes(b float64) string {
	switch {
	case math.IsNaN(b):
		return "unknown"
	case math.Abs(b) >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case math.Abs(b) >= 10<<10 || b == math.Trunc(b/(1<<10))*(1<<10):
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.1f KiB", b/(1<<10))
}

func formatSignedBytes(b float64) string {
	if b < 0 {
		return "-" + FormatBytes(-b)
	}
	return FormatBytes(b)
}

// withMemory sets each pool's memory per connection from its service's
// estimate (WithMemory), on a copy, and starts the report with one
// MemoryEstimate per service: the one given, else the figure the service's
// pools came with.
func (c config) withMemory(pools []Pool) ([]Pool, Report) {
	r := Report{Pools: make([]PoolAdvice, 0, len(pools))}
	pools = slices.Clone(pools)
	seen := map[string]bool{}
	for i, p := range pools {
		e, ok := c.memory[p.Service]
		if ok {
			pools[i].MemoryPerConnection = e.BytesPerConnection
		}
		if seen[p.Service] {
			continue
		}
		seen[p.Service] = true
		if !ok {
			e = MemoryEstimate{Service: p.Service, BytesPerConnection: p.MemoryPerConnection,
				Reason: "as given with the observations (Pool.MemoryPerConnection)", Slope: math.NaN(), StdErr: math.NaN(), Spread: math.NaN()}
		}
		r.Memory = append(r.Memory, e)
	}
	slices.SortFunc(r.Memory, func(a, b MemoryEstimate) int { return cmp.Compare(a.Service, b.Service) })
	return pools, r
}
