package instrument_test

import (
	"context"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/instrument"
)

// reportOverhead reports BenchmarkOverhead's metrics from its rounds (see
// its documentation). Mode 0 is bare.
func reportOverhead(b *testing.B, rounds []overheadRound) {
	if len(rounds) == 0 {
		return
	}
	column := func(f func(r overheadRound) float64) []float64 {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = f(r)
		}
		return v
	}
	nop, poolscope := modeIndex(modeNopRecorder), modeIndex(modePoolscope)
	for m, mode := range overheadModes {
		cpu := column(func(r overheadRound) float64 { return r[m].cpuNsOp })
		b.ReportMetric(mean(cpu), mode.name+"-cpu-ns/op")
		if m == 0 {
			continue
		}
		reportRatio(b, mode.name+"/bare", column(func(r overheadRound) float64 { return r[0].nsOp / r[m].nsOp }))
		reportAdded(b, mode.name+"-added-cpu-ns", column(func(r overheadRound) float64 { return r[m].cpuNsOp - r[0].cpuNsOp }))
	}
	reportRatio(b, "poolscope/nop", column(func(r overheadRound) float64 { return r[nop].nsOp / r[poolscope].nsOp }))
	reportAdded(b, "poolscope-over-nop-cpu-ns", column(func(r overheadRound) float64 { return r[poolscope].cpuNsOp - r[nop].cpuNsOp }))
}

// reportRatio reports the median of per-round ratios and its 95%
// confidence interval.
func reportRatio(b *testing.B, name string, ratios []float64) {
	lo, mid, hi := medianCI(ratios)
	b.ReportMetric(mid, name)
	b.ReportMetric(lo, name+"-lo")
	b.ReportMetric(hi, name+"-hi")
}

// reportAdded reports the mean of per-round differences and the half-width
// of its 95% confidence interval.
func reportAdded(b *testing.B, name string, diffs []float64) {
	b.ReportMetric(mean(diffs), name+"/op")
	b.ReportMetric(ci95(diffs), name+"-ci95")
}

func modeIndex(mode benchMode) int {
	return slices.IndexFunc(overheadModes, func(m benchMode) bool { return m.name == mode.name })
}

// medianCI returns the median of v and a distribution-free 95% confidence
// interval for it: the order statistics n/2 -+ 0.98 sqrt(n) (the normal
// approximation of the binomial, fine from about 20 rounds on).
func medianCI(v []float64) (lo, mid, hi float64) {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	half := 0.98 * math.Sqrt(float64(n))
	j := max(int(math.Floor(float64(n)/2-half)), 0)
	k := min(int(math.Ceil(float64(n)/2+half)), n-1)
	return s[j], median(s), s[k]
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// ci95 is the half-width of a 95% confidence interval of v's mean (normal
// approximation: BenchmarkOverhead runs 100 rounds or more).
func ci95(v []float64) float64 {
	if len(v) < 2 {
		return math.NaN()
	}
	m, ss := mean(v), 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return 1.96 * math.Sqrt(ss/float64(len(v)-1)/float64(len(v)))
}

// processCPU is the CPU time (user + sys) the benchmark process has used,
// every thread included.
func processCPU(b *testing.B) time.Duration { return instrument.ProcessCPU(b) }

// loadAverage is /proc/loadavg's one-minute figure (-1 where there is none).
func loadAverage(b *testing.B) float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		b.Logf("/proc/loadavg: %q: %v", fields[0], err)
		return -1
	}
	return v
}

// nopRecorder is a go-redis recorder that records nothing. It implements
// every interface poolscope's recorder does, so that go-redis makes the
// same calls to it (the connection counts among them).
type nopRecorder struct{}

var (
	_ redis.OTelRecorder          = nopRecorder{}
	_ redis.OTelConnectionCounter = nopRecorder{}
	_ redis.OTelPoolRegistrar     = nopRecorder{}
)

func (nopRecorder) RecordOperationDuration(context.Context, time.Duration, redis.Cmder, int, error, redis.ConnInfo, int) {
}
func (nopRecorder) RecordPipelineOperationDuration(context.Context, time.Duration, string, int, int, error, redis.ConnInfo, int) {
}
func (nopRecorder) RecordConnectionCreateTime(context.Context, time.Duration, redis.ConnInfo) {}
func (nopRecorder) RecordConnectionRelaxedTimeout(context.Context, int, redis.ConnInfo, string, string) {
}
func (nopRecorder) RecordConnectionHandoff(context.Context, redis.ConnInfo, string)        {}
func (nopRecorder) RecordError(context.Context, string, redis.ConnInfo, string, bool, int) {}
func (nopRecorder) RecordMaintenanceNotification(context.Context, redis.ConnInfo, string)  {}
func (nopRecorder) RecordConnectionWaitTime(context.Context, time.Duration, redis.ConnInfo) {
}
func (nopRecorder) RecordConnectionClosed(context.Context, redis.ConnInfo, string, error) {}
func (nopRecorder) RecordPubSubMessage(context.Context, redis.ConnInfo, string, string, bool) {
}
func (nopRecorder) RecordStreamLag(context.Context, time.Duration, redis.ConnInfo, string, string, string) {
}
func (nopRecorder) RecordConnectionCount(context.Context, int, redis.ConnInfo, string, bool) {}
func (nopRecorder) RecordPendingRequests(context.Context, int, redis.ConnInfo, string)       {}
func (nopRecorder) RegisterPool(string, redis.Pooler)                                        {}
func (nopRecorder) UnregisterPool(redis.Pooler)                                              {}
func (nopRecorder) RegisterPubSubPool(string, redis.PubSubPooler)                            {}
func (nopRecorder) UnregisterPubSubPool(redis.PubSubPooler)                                  {}
