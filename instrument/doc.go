// Package instrument reports a process's Redis connection pools as
// OpenTelemetry metrics: how full each pool is, how long callers wait for a
// connection and hold it, how long connections live and why they close,
// pool hits and misses, and whether each pool is healthy.
//
// Call New once at start-up with the *pools.Pools (every role at once), a
// *redis.Client (Sentinel failover clients included) or a
// *redis.ClusterClient (one pool per node), and Close it at shutdown. The
// metric names follow the OpenTelemetry database semantic conventions
// (v1.43, db.client.connection.*); what the conventions do not cover carries
// a redis.client. prefix. New's documentation lists every metric.
//
// Compared with go-redis's redisotel it uses the current metric names,
// reports cumulative counts as monotonic Counters (so Prometheus rate()
// works), builds every attribute set once instead of per command, and adds
// connection lifetimes, close reasons, pub/sub and pipeline-pool
// connections, and health.
//
// Command latency (db.client.operation.duration) comes from go-redis's own
// measurement of each command and pipeline. WithProducer makes the duration
// histograms cost a few atomic adds per command instead of an SDK Record
// each; WithTracing adds go-redis's redisotel tracing to every client.
//
// go-redis has one OTel recorder per process (redis.SetOTelRecorder), and
// poolscope installs its own: see ErrRecorderReplaced for what happens when
// another library installs one too.
package instrument
