package instrument

// UsesProducer tells whether i records its duration histograms into
// lock-free histograms exported by a Producer (rather than the SDK
// instruments). Exported for the external test package.
func UsesProducer(i *Instrumentation) bool { return i.in.fast != nil }
