// Package advisebench is the oracle benchmark behind `make advise-bench`:
// it checks poolscope advise's recommendation against the pool size that a
// sweep finds best, on real workloads against a real redis-server.
//
// For each workload shape (steady callers with think time, bursts,
// blocking commands that hold a connection, pipelines, and a server slowed
// by a Lua script that spins) it runs the callers through a *pools.Pools
// master pool instrumented by instrument, its metrics read by an OTel
// ManualReader every step (a scrape). The shapes that model a network
// reach the server through a relay that delays every chunk (network.go).
// For each shape it
//  1. runs the shape with a pool as large as its callers (unbounded: a
//     closed population of N callers never needs more than N connections)
//     for the reference end-to-end latency p99 (pool wait + command), the
//     best of Settings.References runs;
//  2. sweeps the pool size upwards from 1 to the oracle: the smallest size
//     whose p99 is within 10% or the wait target (whichever is larger) of
//     the reference (each size gets Settings.Attempts runs, keeping the
//     best: outside load only ever makes a p99 worse);
//  3. runs the shape at a size too small (half the oracle) and one too
//     large (twice the callers), turns each run's metrics into
//     advise.Pool the way `poolscope advise` derives them from Prometheus (Little's law on the histograms' sums per step,
//     the peak from the recorded high-water mark redis.client.connection.demand.max, the wait p99 from the histogram's
//     buckets) and calls advise.Advise;
//  4. reruns the shape at each advised size.
//
// A shape is within when every advice is at least the oracle and at most
// 25% (rounded up, +1) above it, and every rerun meets the latency
// criterion. The last line of the report is
// "advise: shapes=N within=W under=U max_over=X%".
package advisebench
