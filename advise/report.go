package advise

// Verdict is what Advise says about one pool.
type Verdict string

// Verdicts.
const (
	Grow   Verdict = "grow"   // callers wait longer than the target: raise the size
	Keep   Verdict = "keep"   // the size is right (or close enough)
	Shrink Verdict = "shrink" // connections sit idle: lower the size
	// ServerBound: the server is saturated (its main thread busy 80% of
	// the time or more, or, where that is not recorded, a hold time that
	// rises with concurrency: whatever serves the connections, the server
	// or this process's CPU) and more connections would only move the
	// queue. The size is kept (a busy server's pools go to 3 when they are
	// further off: Grow or Shrink).
	ServerBound Verdict = "server-bound"
	// NotEnoughData: Missing says what is missing; no size is advised.
	NotEnoughData Verdict = "not-enough-data"
)

// Report is the advice for every pool and the fleet budget of every server.
type Report struct {
	Pools   []PoolAdvice
	Servers []ServerBudget
	// Memory is, per service, the memory per connection the costs use and
	// where it comes from: the estimate given with WithMemory (from
	// EstimateMemoryPerConnection), else the pools' own MemoryPerConnection.
	Memory []MemoryEstimate
}

// PoolAdvice is the advice for one pool of one service. Sizes are per
// process; Service fields multiply by the process count. Figures that could
// not be computed are NaN.
type PoolAdvice struct {
	Service, Pool, Server string
	Processes             int
	Verdict               Verdict
	Reason                string   // one sentence a person can check
	Missing               []string // with NotEnoughData: what the advice needs and did not get

	Current, CurrentMin int // configured now
	Recommended         int // the size to set (Current when Keep, ServerBound or NotEnoughData)
	RecommendedMin      int // the minimum to set (only differs for a pool with a minimum)
	ModelSize           int // what the wait model asks for before the keep margin and the budget; 0 when not computed

	// Observed over the window.
	DemandHigh float64 // the load quantile of per-interval demand (in use + waiting), connections
	DemandPeak float64 // PeakDemand as given
	HoldMean   float64 // mean hold time per acquisition, seconds
	WaitP99    float64 // observed, seconds
	Timeouts   float64

	// ExpectedWaitP99 is the model's wait p99 at Recommended, seconds.
	ExpectedWaitP99 float64
	// ExpectedP99 is the model's end-to-end p99 (wait + hold) at
	// Recommended, seconds, where Criterion is CriterionEndToEnd; NaN
	// otherwise.
	ExpectedP99 float64
	// Criterion is what decided ModelSize (see the Criterion constants);
	// "" for NotEnoughData.
	Criterion Criterion
	// ServerBusy is the median share of the loaded intervals the pool's
	// server spent executing commands (its main thread's CPU time); NaN
	// when not recorded.
	ServerBusy float64
	// CappedByServer: growth was reduced to keep the server's fleet budget
	// within its share of maxclients.
	CappedByServer bool

	// Change in open connections (mean; growth counts the full new size,
	// which the pool may reach at its peak) and resident memory.
	DeltaConnectionsPerProcess, DeltaConnectionsService float64
	DeltaMemoryPerProcess, DeltaMemoryService           float64 // bytes; NaN without a memory per connection

	// Extra is the pool's connections per process outside its cap (health
	// check), counted in the fleet budget.
	Extra int

	openNow             float64 // open connections per process now (mean, else Max)
	memoryPerConnection float64 // bytes, NaN when unknown
	// waitAtSize is the sizing model's wait p99 at n connections, for a
	// size the budget caps; nil where no model applies (a saturated server).
	waitAtSize func(n int) float64
	// p99AtSize is the end-to-end p99 at n connections where that
	// criterion sized the pool; nil otherwise.
	p99AtSize func(n int) float64
}

// Criterion names what decided a pool's size.
type Criterion string

// Criteria.
const (
	// CriterionEndToEnd: the smallest size whose callers' end-to-end p99
	// (wait + hold) is within max(10%, the wait target) of the p99 with no
	// wait (closed populations with recorded hold times).
	CriterionEndToEnd Criterion = "end-to-end p99"
	// CriterionWait: the smallest size whose wait p99 meets the target
	// (long holds, no recorded peak or no recorded hold times).
	CriterionWait Criterion = "wait p99"
	// CriterionOfferedLoad: the load the callers offer decided (the model's
	// size was below it).
	CriterionOfferedLoad Criterion = "offered load"
	// CriterionCallers: the callers' count (a closed set never holds more).
	CriterionCallers Criterion = "callers"
	// CriterionPeak: the peak of callers seen at once (bursts, or the
	// endless-population model's cap).
	CriterionPeak Criterion = "peak"
	// CriterionBursts: the demand callers found as they asked (callers in
	// step).
	CriterionBursts Criterion = "demand callers found"
	// CriterionServerBusy: the server's main thread is saturated.
	CriterionServerBusy Criterion = "server busy"
)

// ServerBudget is the fleet connection budget of one server: what every
// process of every pool pointed at it may open (its max plus the extra
// connections outside the cap), before and after the advice.
type ServerBudget struct {
	Server     string
	MaxClients int // 0 when unknown
	Limit      int // the budget the advice keeps within: the budget fraction of MaxClients; 0 when unknown
	Before     int
	After      int
	Pools      []string // service/pool of every pool counted
	Fits       bool     // After <= Limit (false when MaxClients is unknown)
	Note       string
}
