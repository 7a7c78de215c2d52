package advise_test

import (
	"fmt"
	"math"
	"time"

	"github.com/poolscope/poolscope/advise"
)

// A pool of 10 connections whose 40 callers never pause: 10 in use and 30
// waiting in every minute of the window.
func Example() {
	intervals := make([]advise.Interval, 60)
	for i := range intervals {
		intervals[i] = advise.Interval{InUse: 10, Waiting: 30, Hold: 0.0002, CommandLatency: math.NaN()}
	}
	report, err := advise.Advise([]advise.Pool{{
		Service: "checkout", Name: "master", Server: "10.0.0.5:6379", Processes: 3, Max: 10,
		Step: time.Minute, Intervals: intervals, PeakDemand: 40, OpenMean: 10, WaitP99: 0.05,
		Timeouts: 0, MemoryPerConnection: 20 << 10,
	}}, []advise.Server{{Address: "10.0.0.5:6379", MaxClients: 10000}})
	if err != nil {
		panic(err)
	}
	a := report.Pools[0]
	fmt.Printf("%s %d -> %d: %+.0f connections and %+.0f KiB for the service\n",
		a.Verdict, a.Current, a.Recommended, a.DeltaConnectionsService, a.DeltaMemoryService/1024)
	b := report.Servers[0]
	fmt.Printf("%s: fleet budget %d -> %d of %d allowed\n", b.Server, b.Before, b.After, b.Limit)
	// Output:
	// grow 10 -> 40: +90 connections and +1800 KiB for the service
	// 10.0.0.5:6379: fleet budget 30 -> 120 of 9000 allowed
}
