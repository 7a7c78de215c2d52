package instrument

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
)

// db.client.operation.duration: one histogram of every command's and
// pipeline's duration (go-redis's own measurement, retries included), by
// pool, command name and, on failure, error type. Both attributes come from
// small fixed sets, so that neither a program's own commands nor a server's
// error text can grow the number of series.

// commandNames are the db.operation.name values: the Redis commands most
// programs use, go-redis's names for a pipeline and a transaction, and
// opOther for every other command.
var commandNames = []string{
	// strings
	"GET", "SET", "SETNX", "SETEX", "PSETEX", "GETSET", "GETDEL", "GETEX", "MGET", "MSET", "MSETNX",
	"INCR", "INCRBY", "INCRBYFLOAT", "DECR", "DECRBY", "APPEND", "STRLEN", "GETRANGE", "SETRANGE",
	// keys
	"DEL", "UNLINK", "EXISTS", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "TTL", "PTTL", "PERSIST",
	"TYPE", "RENAME", "RENAMENX", "KEYS", "SCAN", "TOUCH", "DUMP", "RESTORE", "COPY",
	// hashes
	"HGET", "HSET", "HSETNX", "HMGET", "HMSET", "HDEL", "HEXISTS", "HGETALL", "HKEYS", "HVALS", "HLEN",
	"HINCRBY", "HINCRBYFLOAT", "HSCAN",
	// lists
	"LPUSH", "RPUSH", "LPOP", "RPOP", "LLEN", "LRANGE", "LINDEX", "LSET", "LREM", "LTRIM", "LMOVE",
	"BLPOP", "BRPOP", "BLMOVE", "RPOPLPUSH", "BRPOPLPUSH",
	// sets
	"SADD", "SREM", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SPOP", "SRANDMEMBER", "SSCAN",
	"SINTER", "SUNION", "SDIFF",
	// sorted sets
	"ZADD", "ZREM", "ZSCORE", "ZMSCORE", "ZINCRBY", "ZCARD", "ZCOUNT", "ZRANK", "ZREVRANK", "ZRANGE",
	"ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZPOPMIN",
	"ZPOPMAX", "ZSCAN",
	// streams
	"XADD", "XREAD", "XREADGROUP", "XACK", "XLEN", "XRANGE", "XREVRANGE", "XDEL", "XTRIM", "XCLAIM",
	"XAUTOCLAIM", "XPENDING",
	// scripting, pub/sub, transactions, server
	"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO", "PUBLISH", "SPUBLISH",
	"WATCH", "UNWATCH", "PING", "ECHO", "INFO", "SELECT", "DBSIZE", "FLUSHDB", "TIME",
	// what go-redis sends when it sets up a connection, and cluster upkeep
	"HELLO", "AUTH", "CLIENT", "CLUSTER", "COMMAND", "READONLY",
	// go-redis's RecordPipelineOperationDuration names
	"PIPELINE", "MULTI",
	opOther,
}

// opOther is the db.operation.name of every command not in commandNames.
const opOther = "other"

// commandIndex maps a lower-case command name to its index in
// commandNames.
var commandIndex = func() map[string]int {
	m := make(map[string]int, len(commandNames))
	for i, name := range commandNames {
		m[strings.ToLower(name)] = i
	}
	return m
}()

var numCommands = len(commandNames)

// maxCommandLen bounds the names commandOf lowers into a stack buffer.
const maxCommandLen = 24

// commandOf is the index of a name, as an application gave it (go-redis's
// own commands are lower case): without allocating, whatever its case.
func commandOf(name string) int {
	if i, ok := commandIndex[name]; ok {
		return i
	}
	if len(name) > maxCommandLen {
		return numCommands - 1
	}
	var buf [maxCommandLen]byte
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if i, ok := commandIndex[string(buf[:len(name)])]; ok { // no allocation: a map lookup
		return i
	}
	return numCommands - 1
}

// commandCache maps a command name's string to its index without hashing
// it: go-redis passes the same string constant ("get", "set", ...) on every
// call, so a slot indexed by the address of the name's bytes is hit with a
// load and a pointer comparison (string equality compares the pointers
// first). An entry keeps its string alive, so no other string's bytes can
// take that address while it is cached. A slot is filled once, by the
// first name that lands in it: a program whose names are built at run time
// allocates nothing more per command, those names take commandOf's map.
var commandCache [1 << commandCacheBits]atomic.Pointer[cachedCommand]

const commandCacheBits = 6

type cachedCommand struct {
	name  string
	index int
}

// cachedCommandOf is commandOf through commandCache.
func cachedCommandOf(name string) int {
	// A multiplicative hash of the address: constants are packed at any
	// byte, heap strings on 8 or 16 bytes.
	slot := &commandCache[uint64(uintptr(unsafe.Pointer(unsafe.StringData(name))))*0x9e3779b97f4a7c15>>(64-commandCacheBits)]
	if e := slot.Load(); e != nil && e.name == name {
		return e.index
	}
	i := commandOf(name)
	if slot.Load() == nil { // filled once: at most len(commandCache) allocations per process
		slot.CompareAndSwap(nil, &cachedCommand{name: name, index: i})
	}
	return i
}

// commandOfCmd reads the command name from its first argument, which
// Cmder.Name would lower-case into a new string.
func commandOfCmd(cmd redis.Cmder) int {
	if cmd == nil {
		return numCommands - 1
	}
	args := cmd.Args()
	if len(args) == 0 {
		return numCommands - 1
	}
	name, ok := args[0].(string)
	if !ok {
		return numCommands - 1
	}
	return cachedCommandOf(name)
}

// errorTypes are the error.type values of a failed operation: the first
// word of a Redis error reply from a known set, or a class of client-side
// failure; index 0 is success (no error.type).
var errorTypes = []string{
	"", // success
	// Redis error replies, by their first word.
	"ERR", "WRONGTYPE", "NOSCRIPT", "BUSY", "LOADING", "READONLY", "MOVED", "ASK", "TRYAGAIN",
	"CLUSTERDOWN", "CROSSSLOT", "NOAUTH", "WRONGPASS", "NOPERM", "OOM", "EXECABORT", "MASTERDOWN",
	"NOREPLICAS", "MISCONF", "BUSYGROUP", "NOGROUP", "UNBLOCKED", "NOPROTO",
	// Client-side failures.
	"timeout", "canceled", "pool_timeout", "client_closed", "io",
	// Anything else: the semantic conventions' fallback value.
	errorTypeOther,
}

const errorTypeOther = "_OTHER"

var numErrorTypes = len(errorTypes)

var errorTypeIndex = func() map[string]int {
	m := make(map[string]int, len(errorTypes))
	for i, t := range errorTypes {
		m[t] = i
	}
	return m
}()

// errorTypeOf classifies an operation's error; 0 for success. redis.Nil
// (a missing key) is a reply, not a failure. It allocates nothing: type
// assertions instead of errors.As, whose target escapes.
func errorTypeOf(err error) int {
	if err == nil || errors.Is(err, redis.Nil) {
		return 0
	}
	return errorTypeIndex[errorClass(err)]
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, redis.ErrPoolTimeout):
		return "pool_timeout"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, redis.ErrClosed):
		return "client_closed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "io"
	}
	if rerr, ok := err.(redis.Error); ok {
		word, _, _ := strings.Cut(rerr.Error(), " ")
		if _, known := errorTypeIndex[word]; known && word != "" {
			return word
		}
		return errorTypeOther
	}
	if nerr, ok := err.(net.Error); ok {
		if nerr.Timeout() {
			return "timeout"
		}
		return "io"
	}
	return errorTypeOther
}

// operationSets holds one pool's attribute sets for
// db.client.operation.duration: per command, a table by error type, built
// the first time the command is seen (a few hundred bytes for each command
// a program uses), so that recording allocates nothing after that.
type operationSets struct {
	hist *histogram // nil unless WithCommandLatency(true)
	base []attribute.KeyValue
	// succeeded holds each command's series without error.type, the one
	// nearly every command records into: one load away.
	succeeded []atomic.Pointer[series]
	commands  []atomic.Pointer[[]atomic.Pointer[series]] // by command; each table by error type
}

func newOperationSets(base []attribute.KeyValue, hist *histogram) *operationSets {
	return &operationSets{hist: hist, base: base, succeeded: make([]atomic.Pointer[series], numCommands),
		commands: make([]atomic.Pointer[[]atomic.Pointer[series]], numCommands)}
}

// series returns the series of a command and error type.
func (s *operationSets) series(command, errType int) *series {
	if errType == 0 {
		if ser := s.succeeded[command].Load(); ser != nil {
			return ser
		}
		ser := s.build(command, 0)
		s.succeeded[command].Store(ser)
		return ser
	}
	return s.build(command, errType)
}

// build returns the series of a command and error type from the tables,
// building it the first time.
func (s *operationSets) build(command, errType int) *series {
	table := s.commands[command].Load()
	if table == nil {
		t := make([]atomic.Pointer[series], numErrorTypes)
		s.commands[command].CompareAndSwap(nil, &t)
		table = s.commands[command].Load()
	}
	slot := &(*table)[errType]
	if ser := slot.Load(); ser != nil {
		return ser
	}
	kvs := make([]attribute.KeyValue, 0, len(s.base)+2)
	kvs = append(kvs, s.base...)
	kvs = append(kvs, keyOperationName.String(commandNames[command]))
	if errType != 0 {
		kvs = append(kvs, keyErrorType.String(errorTypes[errType]))
	}
	// Two goroutines may build the same series at once: the loser's is
	// dropped before anything is recorded in it (registered with a
	// Producer, it stays empty and is never exported).
	slot.CompareAndSwap(nil, s.hist.newSeries(attribute.NewSet(kvs...)))
	return slot.Load()
}

// recordOperation records one command's or pipeline's duration in every
// pool that observes its connection, once the connection is set up (see
// trackedConn.ready). cn is nil when the operation never got
// a connection (a pool timeout, a failed dial): no pool is known then, and
// db.client.connection.timeouts and the dial errors count those.
// The command names the operation, or name does for a pipeline (cmd nil).
func recordOperation(ctx context.Context, d time.Duration, cmd redis.Cmder, name string, err error, cn redis.ConnInfo) {
	c := trackedFrom(cn)
	if c == nil {
		return // a client poolscope does not observe: no lookup at all
	}
	var command int
	if cmd != nil {
		command = commandOfCmd(cmd)
	} else {
		command = cachedCommandOf(name)
	}
	errType := errorTypeOf(err)
	for ; c != nil; c = c.next() {
		p := c.pool
		ops := p.sets.operations
		if p.closed.Load() || ops.hist == nil || !c.ready.Load() {
			continue
		}
		ops.series(command, errType).record(ctx, d, c.shard)
	}
}
