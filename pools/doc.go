// Package pools opens a process's Redis pools from environment variables:
// a master pool (writes), a replica pool (reads), a local pool and an async
// pool, each with an on/off flag.
//
// Enabled, a role has one shared go-redis client per process whose size is
// a hard cap (PoolSize and MaxActiveConns both equal the size, and
// go-redis's separate pipeline pool, which MaxActiveConns does not cover,
// is turned off); every Client call returns it. Disabled, the Client calls
// return, in turn, one of a fixed number of legacy clients with go-redis's
// defaults (DefaultLegacyClients, 10, or WithLegacyClients): the behaviour
// before pooling, where each component made its own client, so that the two
// can be compared. Code written for the enabled case, which calls Client per
// request and never closes, thus stays bounded when the flag is turned off
// (at most that many go-redis default pools per role), without waiting for
// a garbage collection. CloseClient gives a client back; a legacy client is
// closed when every caller that got it gave it back. Each role also has a
// health loop that PINGs its server at an interval through a dedicated
// connection.
//
// # Variables
//
//	variable                        default                    meaning
//	REDIS_MASTER_POOL_ENABLED       1                          1/0 or true/false
//	REDIS_MASTER_POOL_SIZE          10                         maximum connections
//	REDIS_SLAVE_POOL_ENABLED        1                          replica (read) pool; alias REDIS_REPLICA_POOL_ENABLED
//	REDIS_SLAVE_POOL_SIZE           20                         alias REDIS_REPLICA_POOL_SIZE
//	REDIS_LOCAL_POOL_ENABLED        1
//	REDIS_LOCAL_POOL_SIZE           5
//	REDIS_ASYNC_POOL_ENABLED        1
//	REDIS_ASYNC_POOL_MIN            5                          connections dialled at start and kept open
//	REDIS_ASYNC_POOL_MAX            20                         maximum connections
//	REDIS_MASTER_URL                redis://127.0.0.1:6379/0   redis://, rediss:// (TLS) or unix:///path
//	REDIS_SLAVE_URL                 the master URL             alias REDIS_REPLICA_URL
//	REDIS_LOCAL_URL                 redis://127.0.0.1:6379/0
//	REDIS_ASYNC_URL                 the master URL
//	REDIS_TLS_CA_FILE               system roots               PEM CA bundle for rediss://
//	REDIS_TLS_CERT_FILE/KEY_FILE    none                       client certificate (both or neither)
//	REDIS_TLS_SERVER_NAME           the URL's host             name to verify
//	REDIS_TLS_INSECURE_SKIP_VERIFY  0                          1 turns verification off (logs a warning)
//	REDIS_SENTINEL_ADDRS            none                       host:port[,host:port...]
//	REDIS_SENTINEL_MASTER           none                       master name; required with ADDRS
//	REDIS_SENTINEL_PASSWORD         none                       password of the Sentinels
//	REDIS_POOL_TIMEOUT              4s                         wait for a free connection
//	REDIS_POOL_IDLE_TIMEOUT         5m                         close connections idle this long (0: never)
//	REDIS_POOL_MAX_LIFETIME         30m                        recycle connections this old, +-10% jitter (0: never)
//	REDIS_HEALTH_CHECK_INTERVAL     10s                        PING period; each PING times out after min(interval, 1s)
//	OTEL_SERVICE_NAME               see below                  service part of client names
//
// Aliases set to different values are an error. An empty value is an error,
// not a default. LoadConfig reports every problem at once, each naming the
// variable and its value with passwords replaced by ***. Config's Origins
// say where each role's values came from (a variable, "default", or "from
// REDIS_MASTER_URL"); `poolscope check` prints them.
//
// The local pool does not follow REDIS_MASTER_URL (it is meant for a server
// on this host). When only REDIS_MASTER_URL is set and nothing answers at
// the local pool's default address, New's first health check logs one
// warning saying so; set REDIS_LOCAL_URL, or REDIS_LOCAL_POOL_ENABLED=0.
//
// # Misspelt variables
//
// A variable set in the environment whose name is a near-miss of one above
// (REDIS_MASTER_POOLSIZE, REDIS_MASTR_POOL_SIZE, redis_master_pool_size)
// has no effect; FromEnv logs one warning per such name, naming the closest
// variable, and `poolscope check` reports them and exits 2. The rule is
// NearMisses': the same name up to case, '-'/'.' for '_', or without its
// underscores, or at most two edits (insert, delete, substitute, swap of
// neighbours) away. Other programs' variables (REDIS_URL, REDIS_PASSWORD,
// REDIS_VERSION, REDIS_HOST...) are further away and stay quiet.
//
// # Service name
//
// The service part of the client names follows the rule exporters uses for
// service.name: OTEL_SERVICE_NAME, else service.name in
// OTEL_RESOURCE_ATTRIBUTES, else WithDefaultServiceName, else the
// executable's name; blank values count as unset and spaces around a name
// are trimmed. Give pools and exporters the same default.
//
// # Secrets
//
// The Sentinel password is a secret.String: it prints as *** under every fmt
// verb, in slog records and in JSON. URLs may carry passwords: print
// RoleConfig.RedactedURL or RedactURL, never URL.
//
// With Sentinel, the master pool follows the elected master and the replica
// pool reads from replicas; the async pool follows the master unless
// REDIS_ASYNC_URL is set. REDIS_MASTER_URL then supplies only credentials,
// database and scheme (rediss:// for TLS); its host is ignored.
//
// The pool timeout, idle timeout and lifetime apply to enabled pools only;
// a disabled role's clients keep go-redis's defaults.
//
// # Dials
//
// A shared pool runs at most max(1, size/4) dials at once, and after a
// failed dial to an address it refuses dials to it for 50 ms, doubling up
// to 500 ms, returning a DialBackoffError at once (go-redis then dials once per
// attempt instead of 5 times 100 ms apart). A broken or unreachable server
// thus makes callers fail fast without a pile of half-open connections or
// TLS handshakes. A server that refuses a new connection (its maxclients
// limit) gives callers a ServerClosedError naming the pool and the server,
// where go-redis alone says "broken pipe". WithDialWrapper wraps every dial of the role clients from
// the first one. The shared pools time their dials until TakeDialTimes
// (instrument.New calls it, to give the pre-dialled async connections a
// create time). Disabled roles keep go-redis's dialling.
//
// # Client names
//
// Every connection announces itself with CLIENT SETNAME as
// "service:role:pid", for example "checkout:master:4242" (see ClientName).
// Health-check connections use the role "health". poolscope's agent parses
// these names to attribute the server's connections to processes and pools.
package pools
