package instrument

import (
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
)

// Attribute keys. The semantic-convention ones come from semconv; the
// others have no convention and carry a redis. prefix or a plain name.
const (
	keyPoolName      = semconv.DBClientConnectionPoolNameKey
	keySystemName    = semconv.DBSystemNameKey
	keyServerAddress = semconv.ServerAddressKey
	keyServerPort    = semconv.ServerPortKey
	keyState         = semconv.DBClientConnectionStateKey
	keyKind          = attribute.Key("redis.client.connection.kind")
	keyReason        = attribute.Key("reason")
	keyOutcome       = attribute.Key("outcome")
	keyOperationName = semconv.DBOperationNameKey
	keyErrorType     = semconv.ErrorTypeKey
)

// closeReason is why a connection was closed: a small fixed set, so that
// go-redis's raw error text never becomes an attribute value.
type closeReason uint8

const (
	reasonIdleTimeout closeReason = iota // idle longer than ConnMaxIdleTime
	reasonMaxLifetime                    // older than ConnMaxLifetime (+ jitter)
	reasonStale                          // failed the liveness check (peer closed it, unexpected data)
	reasonError                          // an I/O, protocol, handshake or authentication error
	reasonPoolClosed                     // the client (its pool) was closed
	reasonFailover                       // Sentinel or cluster failover
	reasonOther                          // anything else (idle pool full, pool overflow, pub/sub close...)
	numReasons
)

var reasonNames = [numReasons]string{"idle_timeout", "max_lifetime", "stale", "error", "pool_closed", "failover", "other"}

func (r closeReason) String() string { return reasonNames[r] }

// healthOutcome is the result of a health check, as pools reports it.
type healthOutcome uint8

const (
	outcomeOK healthOutcome = iota
	outcomeError
	outcomeTimeout
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "error", "timeout"}

// connKind tells regular, pipeline-pool and pub/sub connections apart in
// db.client.connection.count.
var kindRegular, kindPipeline, kindPubSub = keyKind.String("regular"), keyKind.String("pipeline"), keyKind.String("pubsub")

// server is where a pool connects: host and port, a unix socket path
// (port 0), or nothing for a Sentinel-managed pool whose address changes
// with every failover.
type server struct {
	address string
	port    int
}

// serverOf reads the server from a client's options.
func serverOf(o *redis.Options) server {
	switch {
	case o.Addr == "" || o.Addr == failoverAddr:
		return server{}
	case o.Network == "unix":
		return server{address: o.Addr}
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return server{address: o.Addr}
	}
	p, _ := strconv.Atoi(port)
	return server{address: host, port: p}
}

// failoverAddr is what a Sentinel failover client reports as its address.
const failoverAddr = "FailoverClient"

// poolSets holds every attribute set of one pool, built once when the pool
// is first seen, together with the measurement options that carry them: the
// hot paths pass these prebuilt options and allocate nothing.
type poolSets struct {
	// What a command reads, first, on the cache line it shares with the
	// pool's closed flag (see observedPool).
	waitTime, useTime, demand *series
	// operations are db.client.operation.duration's, built lazily.
	operations *operationSets

	observe    []metric.ObserveOption
	createTime *series

	regularIdle, regularUsed   []metric.ObserveOption
	pipelineIdle, pipelineUsed []metric.ObserveOption
	pubsubUsed                 []metric.ObserveOption

	closed   [numReasons][]metric.AddOption
	lifetime [numReasons]*series

	healthChecks   [numOutcomes][]metric.AddOption
	healthDuration [numOutcomes]*series // nil without health checks
}

// newPoolSets builds the sets of the pool called name, and the series of
// in's duration histograms. extras come from WithAttributes and are never
// modified: every set gets its own slice, since attribute.NewSet sorts its
// argument in place.
func newPoolSets(name string, srv server, extras []attribute.KeyValue, in *instruments) poolSets {
	base := []attribute.KeyValue{
		semconv.DBClientConnectionPoolName(name),
		semconv.DBSystemNameKey.String(string(dbconv.SystemNameRedis)),
	}
	if srv.address != "" {
		base = append(base, semconv.ServerAddress(srv.address))
	}
	if srv.port > 0 {
		base = append(base, semconv.ServerPort(srv.port))
	}
	base = append(base, extras...)

	with := func(kvs ...attribute.KeyValue) attribute.Set {
		all := make([]attribute.KeyValue, 0, len(base)+len(kvs))
		all = append(all, base...)
		return attribute.NewSet(append(all, kvs...)...)
	}
	observe := func(s attribute.Set) []metric.ObserveOption {
		return []metric.ObserveOption{metric.WithAttributeSet(s)}
	}
	idle := keyState.String(string(dbconv.ClientConnectionStateIdle))
	used := keyState.String(string(dbconv.ClientConnectionStateUsed))

	baseSet := with()
	s := poolSets{
		operations:   newOperationSets(base, in.opDuration),
		observe:      observe(baseSet),
		createTime:   in.createTime.newSeries(baseSet),
		waitTime:     in.waitTime.newSeries(baseSet),
		useTime:      in.useTime.newSeries(baseSet),
		demand:       in.demand.newSeries(baseSet),
		regularIdle:  observe(with(idle, kindRegular)),
		regularUsed:  observe(with(used, kindRegular)),
		pipelineIdle: observe(with(idle, kindPipeline)),
		pipelineUsed: observe(with(used, kindPipeline)),
		pubsubUsed:   observe(with(used, kindPubSub)),
	}
	for r := range numReasons {
		set := with(keyReason.String(reasonNames[r]))
		s.closed[r] = []metric.AddOption{metric.WithAttributeSet(set)}
		s.lifetime[r] = in.lifetime.newSeries(set)
	}
	for o := range numOutcomes {
		set := with(keyOutcome.String(outcomeNames[o]))
		s.healthChecks[o] = []metric.AddOption{metric.WithAttributeSet(set)}
		if in.healthDuration != nil {
			s.healthDuration[o] = in.healthDuration.newSeries(set)
		}
	}
	return s
}
