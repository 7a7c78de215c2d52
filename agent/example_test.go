package agent_test

import (
	"context"
	"fmt"
	"log"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/agent"
)

// An application samples its own memory (add its Redis servers with
// agent.WithRedis or agent.WithPoolsConfig). Here a ManualReader stands in
// for the exporter.
func Example() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	a, err := agent.Start(context.Background(), agent.WithMeterProvider(mp), agent.WithSelf(),
		agent.WithInterval(100*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()

	// The first pass runs in the background right after Start.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			log.Fatal(err)
		}
		if len(rm.ScopeMetrics) > 0 {
			for _, m := range rm.ScopeMetrics[0].Metrics {
				fmt.Println(m.Name, m.Unit)
			}
			return
		}
	}
	// Output:
	// process.memory.usage By
	// process.memory.virtual By
}
