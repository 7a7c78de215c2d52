// Package harness starts and stops the processes that poolscope's
// end-to-end test, soak, credential canary and benchmark tables run, so
// that each of them does it the same way:
//
//   - RepoRoot finds the repository; GoBuild and BuildPoolscope build Go
//     binaries; CollectorBinary builds (or finds in the cache) an
//     OpenTelemetry Collector from a builder manifest with
//     scripts/build-collector.sh.
//   - Start supervises one child process: its own process group, SIGKILL
//     as its parent-death signal (a harness that dies leaves nothing
//     behind), its output in a file or in memory, a readiness poll that
//     ends early when the child dies, and Stop (SIGTERM, then SIGKILL after
//     a grace period). StartTest does the same inside a test, stopping the
//     process at cleanup. Leftovers lists what is still alive afterwards.
//   - StartCollector runs a collector configuration that takes its
//     endpoints from the POOLSCOPE_GATEWAY_* variables
//     (collector-config/gateway.yaml) on free loopback ports, waits for its
//     health check, and restarts it on the same ports.
//
// Redis servers come from the product's internal/redisserver and
// internal/redistest. A missing binary is an error that names it, never a
// skip.
package harness
