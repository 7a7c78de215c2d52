// Package instrument reports a process's Redis connection pools as
// OpenTelemetry metrics: how full each pool is, how long callers wait for a
// connection and hold it, how long connections live and why they close,
// pool hits and misses, and whether each pool is healthy.
//
// Call New once at start-up with the *pools.Pools (every role at once, with
// health), or NewClient with a go-redis client that pools did not make (a
// *redis.Client, Sentinel failover clients included, a *redis.ClusterClient
// or a *redis.Ring: one pool per node), and Close it at shutdown. Options
// that apply to both are of type Option; WithPoolName, which names a single
// client's pool, is a ClientOption only, since a *pools.Pools names its
// pools by role. Observing the same pools or client twice through one
// MeterProvider is refused (ErrAlreadyObserved) rather than counted twice.
//
// The metric names follow the OpenTelemetry database semantic conventions
// (v1.43, db.client.connection.*); what the conventions do not cover carries
// a redis.client. prefix.
//
// # Metrics
//
// Every metric carries db.client.connection.pool.name, db.system.name
// ("redis"), server.address and server.port (a unix socket: its path and no
// port; a Sentinel-managed pool: neither, its address changes with each
// failover), and the WithAttributes extras. Durations are histograms in
// seconds with the WithHistogramBoundaries buckets (default 10 us to 10 s).
//
//	name                                   instrument               unit          extra attributes and meaning
//	db.client.connection.count             UpDownCounter (async)    {connection}  db.client.connection.state=idle|used, redis.client.connection.kind=regular|pipeline|pubsub (pubsub is always used)
//	db.client.connection.idle.max          UpDownCounter (async)    {connection}  most idle connections kept: regular pool (MaxIdleConns, else its cap) plus pipeline pool
//	db.client.connection.idle.min          UpDownCounter (async)    {connection}  MinIdleConns
//	db.client.connection.max               UpDownCounter (async)    {connection}  most connections open: regular pool cap (MaxActiveConns, else PoolSize) plus pipeline pool size
//	db.client.connection.pending_requests  UpDownCounter (async)    {request}     callers waiting for a connection now
//	redis.client.connection.demand.max     Gauge (async)            {connection}  most callers holding or waiting for a connection at once since the last collection (kept by the recorder)
//	redis.client.connection.demand         Histogram                {connection}  callers holding or waiting (itself included) that each caller found as it asked for a connection; buckets 1..16, 20, 24, 32, ... 1024
//	db.client.connection.timeouts          Counter (async)          {timeout}     callers that gave up waiting (PoolTimeout)
//	db.client.connection.create_time       Histogram                s             dial + TLS + handshake of each new connection
//	db.client.connection.wait_time         Histogram                s             wait for a turn in the pool, every acquisition
//	db.client.connection.use_time          Histogram                s             borrow to return (or removal) of a connection
//	redis.client.connection.closed         Counter                  {connection}  reason=idle_timeout|max_lifetime|stale|error|pool_closed|failover|other
//	redis.client.connection.lifetime       Histogram                s             reason as above; dial to close
//	redis.client.connection.hits           Counter (async)          {hit}         a free connection was found in the pool
//	redis.client.connection.misses         Counter (async)          {miss}        none was free: a new one was dialled
//	redis.client.connection.waits          Counter (async)          {wait}        a caller waited for a turn and got one (timed-out waits are in timeouts)
//	redis.client.connection.stale          Counter (async)          {connection}  connections removed from the pool (go-redis StaleConns: every removal but pool Close)
//	redis.client.connection.unusable       Counter (async)          {connection}  go-redis Unusable (never incremented by go-redis v9.23)
//	redis.client.health.checks             Counter                  {check}       New (*pools.Pools) only; outcome=ok|error|timeout
//	redis.client.health.duration           Histogram                s             New (*pools.Pools) only; outcome as above
//	redis.client.health.up                 Gauge (async)            {status}      New (*pools.Pools) only; 1 healthy, 0 failing; absent before the first check
//	db.client.operation.duration           Histogram                s             db.operation.name (a fixed set of command names, PIPELINE, MULTI, else "other"), error.type on failure only; go-redis's own measurement, retries included; only with WithCommandLatency(true)
//
// The asynchronous instruments are read by one callback per
// Instrumentation from go-redis's PoolStats at collection time; nothing is
// read on a command's path. The histograms and close counts come from
// poolscope's go-redis recorder (redis.SetOTelRecorder), which allocates
// nothing per command; go-redis keeps one recorder per process, shared by
// every Instrumentation (see ErrRecorderReplaced). With WithProducer the
// histograms are lock-free and exported by a Producer attached to the
// readers, at a fraction of the SDK's cost per command (see Producer).
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
package instrument
