// Package agent samples local processes and Redis servers and reports what
// it sees as OpenTelemetry metrics: each process's memory and connections
// to each server, and each server's clients, grouped by client name (the
// "service:role:pid" names that pools gives its connections).
//
// Start runs it inside an application (WithSelf plus the application's
// servers); `poolscope agent` runs it as a sidecar or host daemon. A bad
// target never stops it: a process that exits stops being reported, a
// server that is down reports poolscope.redis.up 0 and is retried with a
// doubling back-off (interval to 1m), and each problem is logged once per
// target and cause.
//
// # Metrics
//
//	OTel name                                 instrument     unit          Prometheus name
//	process.memory.usage                      UpDownCounter  By            process_memory_usage_bytes
//	process.memory.virtual                    UpDownCounter  By            process_memory_virtual_bytes
//	poolscope.process.memory.pss              UpDownCounter  By            poolscope_process_memory_pss_bytes
//	poolscope.process.redis.connections       UpDownCounter  {connection}  poolscope_process_redis_connections
//	redis.clients.connected                   Gauge          {client}      redis_clients_connected
//	redis.clients.blocked                     Gauge          {client}      redis_clients_blocked
//	redis.clients.max                         Gauge          {client}      redis_clients_max
//	redis.connections.received                Counter        {connection}  redis_connections_received_total
//	redis.connections.rejected                Counter        {connection}  redis_connections_rejected_total
//	redis.cpu.time                            Counter        s             redis_cpu_time_seconds_total
//	poolscope.server.connections              UpDownCounter  {connection}  poolscope_server_connections
//	poolscope.server.connection.age.max       Gauge          s             poolscope_server_connection_age_max_seconds
//	poolscope.server.connection.idle.max      Gauge          s             poolscope_server_connection_idle_max_seconds
//	poolscope.redis.up                        Gauge          {status}      poolscope_redis_up
//	poolscope.agent.client_list.skipped       Counter        {scrape}      poolscope_agent_client_list_skipped_total
//	poolscope.agent.client_list.duration      Histogram      s             poolscope_agent_client_list_duration_seconds
//
// Process metrics carry process.pid and process.executable.name (only
// selected processes, so the set is bounded), and container.id and
// k8s.pod.uid when the process's /proc/PID/cgroup names them (containerd,
// CRI-O, Docker, Podman; cgroup v1 and v2); connection counts add
// server.address and server.port (a unix socket: its path and no port).
// Server metrics carry server.address and server.port, poolscope.redis.role
// ("master" or "replica", from the server's INFO replication) and, for a
// Redis Cluster node, poolscope.redis.shard (its shard's slot ranges,
// "0-5460"; "" for a master without slots); redis.cpu.time adds state
// (sys, user, sys_children, user_children, and sys_main_thread and
// user_main_thread from Redis 6.2 on: INFO cpu's used_cpu_* fields, named
// as the Collector's redis receiver names them); the per-name ones
// add redis.client.name (the raw name, "" for unnamed connections, "other"
// for the names beyond the top N) and poolscope.client.service,
// poolscope.client.role and poolscope.client.pid (the parts of a poolscope
// name, empty for any other name).
//
// # What is read, and how often
//
// Every interval (default 10s) the agent reads each selected process's
// /proc/PID/statm (about 20 us: RSS and VMS) and, with WithPSS,
// smaps_rollup; and sends each server one INFO clients stats replication
// cluster cpu (O(1) on the server, O(replicas) for the replication section). Every 6th pass (WithDiscoverEvery) it refreshes the process
// selection and the connection counts: the socket tables and the
// processes' fd links socket:[INODE]. TCP tables are per network namespace:
// the agent reads /proc/PID/net/tcp and tcp6 once for each namespace the
// processes it looks at are in (keyed by the /proc/PID/ns/net inode), so a
// process in a pod or container is counted like a local one. Unix sockets
// come from sock_diag, which /proc/net/unix cannot replace. With
// WithDiscover that scan covers every process, so it runs at the lower
// rate.
//
// CLIENT LIST is O(clients) on the server's single thread and its reply is
// about 300 bytes a client. By default it runs at every pass up to 1000
// clients, at every 6th pass from 1000 to 5000 clients, and not at all
// above 5000 (WithClientListMaxClients): each skip is counted in
// poolscope.agent.client_list.skipped and the per-name series stop until
// the count drops. Names beyond the top 50 by connection count
// (WithTopNames) are merged into "other", so a server with thousands of
// clients still yields at most 51 series per metric.
//
// Each server gets one persistent connection (PoolSize 1) named
// "poolscope-agent" (ClientName). It is left out of every count:
// redis.clients.connected is connected_clients - 1, CLIENT LIST skips it by
// its CLIENT ID, and discovery skips its socket.
//
// # Attribution only
//
// WithServerMetrics(false) keeps the servers for discovery's per-process
// connection counts (matched by address: no credentials needed) and drops
// everything the agent learns from the servers themselves: no INFO, no
// CLIENT LIST, no server metric. A configured server is asked once whether
// it is a cluster node (CLUSTER SHARDS); a cluster's nodes are asked for
// the topology at every discovery pass; servers found through Sentinel are
// not contacted. For the agents of a DaemonSet, which would otherwise each
// report the same servers; one agent elsewhere samples them.
//
// # Redis Cluster from one seed
//
// A server whose INFO says cluster_enabled:1 is asked, at every discovery
// pass, for the cluster's nodes (CLUSTER SHARDS; CLUSTER NODES before Redis
// 7.0), and every node is watched from then on with the seed's URL,
// credentials and TLS settings: a node that joins is added, a node the
// cluster no longer lists (forgotten after it left) is dropped, a failed
// node stays and reports poolscope.redis.up 0. Roles come from each node's
// own INFO at every pass, so the series follow a failover at the next pass.
// A seed that is not a cluster node is watched alone; a node that refuses
// CLUSTER SHARDS and NODES (an ACL without +cluster|shards, +cluster|nodes)
// is watched alone, said once. The seed may be given by any name: nodes
// are told apart by their cluster ID (CLUSTER MYID), so the seed is watched
// once, under the name given (by address only when CLUSTER MYID is
// refused).
//
// # Sentinel
//
// WithSentinel (and WithPoolsConfig when the pools follow Sentinel) asks
// the Sentinels, at every discovery pass, for the master they know by name
// and its replicas, and watches those servers as it does a cluster's nodes:
// roles follow a failover at the next pass, a replica Sentinel drops is
// dropped. A Sentinel that does not know the name, or none answering, is
// said once; the servers already watched stay.
//
// # Limits
//
// Discovery matches TCP connections by the server's address as configured
// (a host name is resolved at each discovery pass); in a network namespace
// other than the agent's, a loopback address is that namespace's own, so
// it never matches. Unix connections are matched by the socket path as the
// server bound it, in the agent's own network namespace only: a unix
// client in another one is not counted (the kernel puts both ends of its
// connection in the client's namespace, and sock_diag answers only from
// inside a namespace: setns, which needs CAP_SYS_ADMIN). Reading other
// users' processes' fds needs their user, root, or both CAP_SYS_PTRACE and
// CAP_DAC_READ_SEARCH (the second to open /proc/PID/fd at all, the first
// for its ptrace access check; CAP_SYS_PTRACE alone is refused); without
// them those processes are missed and the agent says so once.
package agent
