package memtable

import (
	"math"
	"slices"
)

// median is the middle value of xs (the mean of the two middle values for
// an even count); 0 for no values.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func sum(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t
}

// reductionPct is how much smaller after is than before, in percent of
// before (negative when after is larger); NaN when before is not positive.
func reductionPct(before, after float64) float64 {
	if before <= 0 {
		return math.NaN()
	}
	return 100 * (before - after) / before
}

// Fit is a least-squares line y = Intercept + Slope*x.
type Fit struct {
	Slope, Intercept float64
	// R2 is the coefficient of determination (1: every point on the line).
	R2 float64
	// Points is the number of (x, y) pairs fitted.
	Points int
}

// fitLine fits y against x by ordinary least squares. With fewer than two
// distinct x values the slope is undefined: ok is false.
func fitLine(x, y []float64) (f Fit, ok bool) {
	n := len(x)
	if n != len(y) || n < 2 {
		return Fit{Points: n}, false
	}
	mx, my := sum(x)/float64(n), sum(y)/float64(n)
	var sxx, sxy, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return Fit{Points: n}, false
	}
	f = Fit{Slope: sxy / sxx, Points: n}
	f.Intercept = my - f.Slope*mx
	f.R2 = 1
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	}
	return f, true
}
