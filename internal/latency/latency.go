// Package latency holds the histogram bucket boundaries that instrument/
// and exporters/ share, so that every poolscope duration histogram has the
// same buckets wherever it is built.
package latency

// Boundaries are explicit histogram bucket boundaries in seconds, on a 1-2-5
// series from 10 microseconds to 10 seconds. A Redis command on loopback
// takes tens to hundreds of microseconds and a pool wait or a dial under
// trouble takes up to the timeouts (seconds), so the buckets have to span six
// decades; the SDK's defaults (0, 5, 10, 25 ... read as seconds) would put
// nearly every Redis latency in the first bucket.
//
// The slice is shared: treat it as read-only, or copy it with Copy.
var Boundaries = []float64{
	0.00001, 0.00002, 0.00005,
	0.0001, 0.0002, 0.0005,
	0.001, 0.002, 0.005,
	0.01, 0.02, 0.05,
	0.1, 0.2, 0.5,
	1, 2, 5,
	10,
}

// Copy returns a fresh copy of Boundaries, safe to hand to code that may
// modify or keep it.
func Copy() []float64 { return append([]float64(nil), Boundaries...) }
