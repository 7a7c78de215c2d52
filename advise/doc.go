// Package advise tells each pool what size to set, what the change costs,
// and whether every process pointed at a server fits its maxclients. It is
// pure computation over observations (Pool, Server); `poolscope advise`
// fills them from Prometheus and `poolscope demo` from its own processes.
//
// # The model
//
// Demand. Little's law on the pool's own histograms gives the mean number of
// connections in use exactly: seconds of use per second,
// rate(db.client.connection.use_time sum). The same law on the wait
// histogram gives the mean number of callers waiting,
// rate(db.client.connection.wait_time sum). Their sum is the demand: how
// many connections callers wanted at once. Per interval (Pool.Step, a
// minute by default) this is exact whatever the scrape interval; Advise
// sizes for a high quantile of it over the window (q0.99: the busiest
// intervals, not the mean, because a pool sized to the mean makes callers
// wait half the time). The mean hold time per acquisition is use_time's
// sum over its count.
//
// Size. The callers of a pool are a closed set: the recorded peak
// (Pool.PeakDemand) is how many there are, at most, N. Little's law splits
// them per interval into those holding a connection (in use U), waiting
// (W) and thinking (N - U - W), so one caller's own load, its hold over its
// think time β = U/(N - U - W), is the same at every pool size, where the
// demand U + W is not: a pool too small makes callers wait who would
// otherwise think. At the load quantile of β, the M/M/c//N queue
// (machine-repairman, Engset's setting; closed.go) gives the waits at
// each size; the advice is the smallest size that meets the criterion,
// no less than the load N·β/(1+β) the callers would put on a pool where
// nobody waits, and never more than N (N callers never hold more than N
// connections). Callers
// found thinking less than 10% of the time are taken as callers in a tight
// loop (the rate figures cannot tell them apart), and get N. With many
// callers each asking little, this is Erlang C's answer.
//
// The criterion is the callers' end-to-end p99, wait + hold, where the
// hold times are recorded (Pool.Holds, use_time's buckets; endtoend.go):
// the smallest size whose p99 of the M/M/c//N wait (scaled by the holds'
// variability, (1 + Cs²)/2) convolved with the holds is within max(10%,
// the wait target) of the holds' own p99, with the offered load as the
// floor. Without recorded holds, the wait p99 must meet the target, with
// 10% headroom on the floor. PoolAdvice.Criterion says what decided.
//
// Without a peak, or when the mean hold is 10 times the target or more,
// an M/M/c queue (Erlang C, endless callers) at the busy-interval demand
// and hold time gives the wait p99 of each size instead, with two bounds:
//   - no more than the observed peak of callers wanting a connection at once
//     plus 10% headroom (Pool.PeakDemand: the recorded per-interval high-water
//     mark redis.client.connection.demand.max, else the used and
//     pending_requests gauges sampled at scrape time): a pool that large makes
//     nobody wait, and
//     M/M/c, which assumes an endless stream of callers, overstates a
//     closed population's need (40 goroutines need at most 40 connections);
//   - no less than the busy-interval demand plus 10% headroom.
//
// Long holds stay with the endless-population model on purpose: a caller
// that waits there at all waits many times the target, and callers with
// steady holds and think times (blocking commands with a timeout, Conn()
// sessions) fall into step once one has waited, which the closed model's
// random times do not capture.
//
// Callers in step. Where the pool was rarely full (at most 1% of the
// callers found it so), the demand each caller found as it asked
// (Pool.Demand, redis.client.connection.demand) checks the model: at the
// model's size (the wait criterion's, where the end-to-end one sized the
// pool: it lets many callers wait briefly, among which callers in step
// would not stand out), the share of callers that found more demand than that
// must stay within 4 times (+5%) the share the model itself expects to
// find the pool full. Callers that wake together (a burst of 16 whose
// mean load is 3.4) break it by tens of times; the size is then the demand
// the callers found at the quantile the model allows, plus 10%, at most
// the peak. In a pool often full, waiting callers inflate that demand, and
// the model alone decides. Without the histogram (an older poolscope) the
// reason says so.
//
// Callers that wait longer than the target although the busy-interval load
// fits the pool are in bursts shorter than an interval. A peak above the
// pool's size says how large; without one the verdict is NotEnoughData,
// naming the per-interval high-water mark of demand that would tell.
//
// Verdicts. Grow when the size is below the model's; Shrink when the size
// is more than 25% (+1) above it and callers do not wait longer than the
// target; Keep otherwise.
//
// A saturated server. Where the server's busy share is recorded
// (Interval.ServerBusy: its main thread's CPU time per second) for at least
// half of the loaded intervals, it alone says whether the server is the
// bottleneck: at a median of 80% or more, a single-threaded server executes
// one command at a time, and 3 connections per process (one executing, one
// queued behind it, one on its way to the next caller) keep it busy; the
// size goes to 3 (or the model's, if
// smaller) from either side, and within the keep margin the verdict is
// ServerBound. CPU time does not advance while the machine stalls, so a
// stall cannot pass for a busy server. Without it, ServerBound refuses
// growth when the hold time (or
// the command latency, db.client.operation.duration, when recorded) rose
// by half or more between the quietest and the busiest third of the
// intervals while the connections in use rose by half or more: throughput
// is in use / hold, so it stopped following concurrency, and whatever
// serves the connections is saturated; a bigger pool would only move the
// queue from the pool into the server.
//
// NotEnoughData, with what is missing, for: fewer than 10 intervals with
// data (window too short), no use times at all, nothing in use (no load), no
// usable hold time, a full pool without wait times (the demand beyond its
// size is unknown), a configuration that is not a pool size, and the bursts
// above.
//
// Use is booked when a connection returns: a connection held longer than an
// interval (a blocking command, a Conn() session) puts its whole hold into
// the interval it returns in. Per-interval demand is exact for hold times
// well below the interval, which Redis commands are; pools holding
// connections for minutes need a step longer than their hold times.
//
// Cost. The change in open connections per process is the recommended size
// minus the mean open now for growth (the pool may fill up at its peak) and
// the open connections above the recommended size for a shrink; times the
// process count for the service, times the memory per connection for bytes:
// the service's estimate given with WithMemory (EstimateMemoryPerConnection
// over the processes' RSS), else Pool.MemoryPerConnection; Report.Memory
// says, per service, which and why, so that Advise's result is complete
// for any caller.
//
// Fleet budget. Per server, the sum over every pool pointed at it of
// processes x (max + connections outside the cap, such as health checks):
// what a traffic spike or a deploy may open. After the advice it must stay
// within 90% of maxclients (the alert's threshold); growth is taken back,
// largest first, until it does, and the pools concerned say so. Shrinks
// and kept sizes are never raised; a fleet over budget even without growth
// is reported as such.
package advise
