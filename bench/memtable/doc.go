// Package memtable measures what poolscope's pool flags do to process
// memory: it is the code behind `make memtable`.
//
// It starts its own redis-server (plain and TLS), then, for every worker
// count N, starts N worker processes (the running binary, re-executed with
// POOLSCOPE_MEMTABLE_WORKER set) once with every pool flag off
// (REDIS_*_POOL_ENABLED=0 and pools.WithLegacyClients(K): each of the K
// clients is a separate go-redis client with its defaults) and once with
// every flag on (the default sizes: the clients share one size-capped pool
// per role). Each worker runs the same
// workload (see Workload and runPoolsWorker), a few at a time
// (Config.Parallel), says "steady" once its pools' own connections are in
// place and holds its connections; when all N are steady the parent
// samples them with poolscope's agent (RSS and VMS from /proc/PID/statm,
// PSS from smaps_rollup, the server's connections per client name from
// CLIENT LIST) and stops them.
//
// Sweeps in single processes give the marginal costs: one opens 0, 10, 50,
// 100 and 200 connections (plain and TLS) and fits RSS against the
// connection count by least squares; another creates clients with ever
// larger pool sizes and no connections, and fits RSS against the number of
// configured pool slots (once more with go-redis's maintenance
// notifications off, which is where that memory goes).
//
// BENCHMARKS.md at the top of the repository has a full run and its reading.
//
// Report prints the table with the specification's claims next to the
// measurements; its last line is
//
//	memtable: rss_reduction=X% vms_reduction=Y% per_conn_kib=Z tls_extra_kib=W
package memtable
