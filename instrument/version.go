package instrument

// Version is the instrumentation version reported with every metric
// (the instrumentation scope's version).
const Version = "0.1.0"
