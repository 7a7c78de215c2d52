package advise

import "time"

// Pool is what was observed of one pool of one service over the window:
// every process of the service that runs the pool, pointed at one server.
// Unknown figures are NaN (or 0 where the field says so); Advise says which
// are missing instead of guessing them.
type Pool struct {
	Service string // service.name (Prometheus job)
	Name    string // pool name: master, replica, local, async, or a client's name
	Server  string // host:port the pool points at; "" when unknown (Sentinel)

	Processes int // processes of the service running this pool
	Max       int // configured maximum connections per process
	Min       int // configured minimum (pre-dialled) connections per process; 0 for none
	// Extra is the connections per process to the same server that the
	// pool's cap does not count (the health check's), for the fleet budget.
	Extra int

	// Step is the width of each interval; Intervals are consecutive, oldest
	// first, covering the window. An interval without data holds NaN.
	Step      time.Duration
	Intervals []Interval

	// PeakDemand is the most connections in use plus callers waiting seen at
	// once in one process: recorded by redis.client.connection.demand.max
	// where the processes report it, else sampled from gauges at scrape time
	// (a shorter peak between two samples is then missed). NaN when unknown.
	PeakDemand float64
	// PeakRecorded: PeakDemand is the recorded high-water mark of every
	// process, exact, not gauges sampled at scrape time. The busiest
	// interval's mean demand can then not exceed it but by measurement
	// noise, and the closed model takes it alone as the number of callers.
	PeakRecorded bool
	// OpenMean is the mean number of connections open per process (in use
	// and idle) over the window; NaN when unknown.
	OpenMean float64
	// WaitP99 is the observed 99th percentile wait for a connection over the
	// window, seconds; NaN when unknown or when nobody asked.
	WaitP99 float64
	// Timeouts is the number of callers that gave up waiting in the window,
	// over every process; NaN when unknown.
	Timeouts float64
	// MemoryPerConnection is the resident memory one connection costs a
	// process, bytes; NaN or 0 when unknown.
	MemoryPerConnection float64
	// Demand is the demand each caller found as it asked over the window, summed
	// over the processes: redis.client.connection.demand, the callers
	// holding or waiting for a connection at that instant, the acquiring
	// caller included. Empty when not recorded (an older poolscope).
	Demand Histogram
	// Holds is how long callers held a connection per acquisition over the
	// window, summed over the processes: db.client.connection.use_time's
	// buckets. With it the size is judged by the callers' end-to-end p99
	// (wait + hold); empty when not recorded, and the wait p99 alone
	// decides.
	Holds Histogram
}

// Interval is one step of the window, per process of the busiest process
// where that differs (see the package documentation for how each is derived
// from the histograms).
type Interval struct {
	// InUse is the mean number of connections in use: seconds of use per
	// second, rate(db.client.connection.use_time sum).
	InUse float64
	// Waiting is the mean number of callers waiting for a connection: seconds
	// of waiting per second, rate(db.client.connection.wait_time sum). NaN
	// when the pool records no wait times.
	Waiting float64
	// Hold is the mean time a connection is held per acquisition, seconds:
	// use_time sum / use_time count. NaN when nothing was acquired.
	Hold float64
	// CommandLatency is the mean command duration, seconds
	// (db.client.operation.duration); NaN when not recorded.
	CommandLatency float64
	// ServerBusy is the share of the interval the pool's server spent
	// executing commands: the rate of its main thread's CPU time (INFO cpu
	// used_cpu_sys_main_thread + used_cpu_user_main_thread), 0 to 1. NaN
	// when not recorded.
	ServerBusy float64
}

// Server is a Redis server that pools point at.
type Server struct {
	Address    string // host:port, as in Pool.Server
	MaxClients int    // the server's maxclients; 0 when unknown
}
