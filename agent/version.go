package agent

// Version is the agent's instrumentation version, reported with every metric
// as the instrumentation scope's version.
const Version = "0.1.0-dev"
