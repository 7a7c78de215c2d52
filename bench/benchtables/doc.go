// Package benchtables measures what the issue "Measure the claims" asks of
// poolscope beyond the hot path, and prints the tables `make bench` shows:
//
//   - AgentCost: the CPU time per sampling pass per process, CPU share and
//     RSS of `poolscope agent` next to the OpenTelemetry Collector's
//     hostmetrics process scraper, both sampling the same idle processes at
//     a 1 s interval in the same wall-clock window (see
//     hostmetrics-manifest.yaml for the collector).
//   - ServerImpact: the time a redis-server spends in CLIENT LIST at a
//     given number of connected clients (INFO commandstats) and the share
//     of the server's CPU that `poolscope agent` takes with its default
//     settings and with CLIENT LIST forced at every pass.
//
// The hot-path latency table (p50/p99 with 1 and 64 callers) is
// BenchmarkLatency in this package's tests, printed by
// bench/benchreport.
//
// Every figure is a ratio or a share measured side by side in one run:
// the 2-core machines these run on drift by tens of percent from one
// minute to the next, so numbers from separate runs do not compare. CPU
// times come from /proc/PID/stat (utime+stime) and the server's own
// getrusage (INFO cpu), never from wall-clock time. The command that prints
// the tables is ./benchtables/cmd/benchtables (in the bench module).
package benchtables
