package instrument_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/pools"
)

func ExampleNew() {
	ctx := context.Background()
	srv, err := redisserver.Start(redisserver.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	// In a program: pools.FromEnv() and the exporter's MeterProvider.
	cfg, err := pools.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{"REDIS_MASTER_URL": srv.URL(), "REDIS_LOCAL_URL": srv.URL()}[k]
		return v, ok
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := pools.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)

	inst, err := instrument.New(p, instrument.WithMeterProvider(provider))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer inst.Close()

	p.Master().Set(ctx, "greeting", "hello", 0)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "db.client.connection.max" {
			for _, dp := range d.DataPoints {
				name, _ := dp.Attributes.Value("db.client.connection.pool.name")
				fmt.Printf("%s{pool=%s} %d\n", m.Name, name.AsString(), dp.Value)
			}
		}
	}
	// Unordered output:
	// db.client.connection.max{pool=master} 10
	// db.client.connection.max{pool=replica} 20
	// db.client.connection.max{pool=local} 5
	// db.client.connection.max{pool=async} 20
}

func ExampleNewClient() {
	ctx := context.Background()
	srv, err := redisserver.Start(redisserver.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	// In a program: the exporter's MeterProvider, or none for the global one.
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)

	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 10})
	defer client.Close()
	inst, err := instrument.NewClient(client, instrument.WithMeterProvider(provider), instrument.WithPoolName("cache"),
		instrument.WithCommandLatency(true)) // db.client.operation.duration: off by default
	if err != nil {
		fmt.Println(err)
		return
	}
	defer inst.Close()

	client.Set(ctx, "greeting", "hello", 0)
	client.Get(ctx, "greeting")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				if kind, ok := p.Attributes.Value("redis.client.connection.kind"); ok && kind.AsString() != "regular" {
					continue // pipeline and pub/sub connections: none here
				}
				label := ""
				if state, ok := p.Attributes.Value("db.client.connection.state"); ok {
					label = "{state=" + state.AsString() + "}"
				}
				fmt.Printf("%s%s %d\n", m.Name, label, p.Value)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				label := ""
				if op, ok := p.Attributes.Value("db.operation.name"); ok {
					label = "{db.operation.name=" + op.AsString()
					if et, ok := p.Attributes.Value("error.type"); ok {
						label += ",error.type=" + et.AsString()
					}
					label += "}"
				}
				fmt.Printf("%s%s: %d recorded\n", m.Name, label, p.Count)
			}
		}
	}
	// The demand is recorded as callers ask for a connection, from the
	// second on: the first one's teaches poolscope go-redis's name for the
	// pool (see redis.client.connection.demand in doc.go).
	//
	// Unordered output:
	// db.client.connection.count{state=idle} 1
	// db.client.connection.count{state=used} 0
	// db.client.connection.idle.max 20
	// db.client.connection.idle.min 0
	// db.client.connection.max 20
	// db.client.connection.pending_requests 0
	// db.client.connection.timeouts 0
	// redis.client.connection.hits 1
	// redis.client.connection.misses 1
	// redis.client.connection.waits 0
	// redis.client.connection.stale 0
	// redis.client.connection.unusable 0
	// db.client.connection.create_time: 1 recorded
	// db.client.connection.wait_time: 2 recorded
	// db.client.connection.use_time: 2 recorded
	// redis.client.connection.demand: 1 recorded
	// db.client.operation.duration{db.operation.name=SET}: 1 recorded
	// db.client.operation.duration{db.operation.name=GET}: 1 recorded
}
