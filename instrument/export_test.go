package instrument

import "time"

// UsesProducer tells whether i records its duration histograms into
// lock-free histograms exported by a Producer (rather than the SDK
// instruments). Exported for the external test package.
func UsesProducer(i *Instrumentation) bool { return i.in.fast != nil }

// SetRetireAfter sets how long after Close an Instrumentation's histograms
// are folded into its Producer's retired points, until the test ends.
func SetRetireAfter(t interface{ Cleanup(func()) }, d time.Duration) {
	before := retireAfter
	retireAfter = d
	t.Cleanup(func() { retireAfter = before })
}

// ProducerSources is how many Instrumentations p still holds the
// histograms of (closed ones not yet folded included).
func ProducerSources(p *Producer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sources)
}
