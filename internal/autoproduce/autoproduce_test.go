package autoproduce

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// fixed produces one scope of its name.
type fixed string

func (f fixed) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	sm := metricdata.ScopeMetrics{}
	sm.Scope.Name = string(f)
	return []metricdata.ScopeMetrics{sm}, nil
}

func TestSlot(t *testing.T) {
	ctx := context.Background()
	var s Slot
	if got, err := s.Produce(ctx); got != nil || err != nil {
		t.Fatalf("an empty slot produced %v, %v", got, err)
	}
	if got := s.LoadOrStore(fixed("first")); got != fixed("first") {
		t.Fatalf("LoadOrStore on an empty slot = %v, want the producer given", got)
	}
	if got := s.LoadOrStore(fixed("second")); got != fixed("first") {
		t.Fatalf("LoadOrStore on a filled slot = %v, want the first producer", got)
	}
	got, err := s.Produce(ctx)
	if err != nil || len(got) != 1 || got[0].Scope.Name != "first" {
		t.Fatalf("Produce = %v, %v; want the first producer's scope", got, err)
	}
}

func TestRegistry(t *testing.T) {
	mp := sdkmetric.NewMeterProvider()
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	if Of(mp) != nil {
		t.Fatal("a provider never registered has a slot")
	}
	s := &Slot{}
	Register(mp, s)
	if Of(mp) != s {
		t.Fatal("Of does not return the registered slot")
	}
	if Of(noop.NewMeterProvider()) != nil || Of(nil) != nil {
		t.Fatal("a provider that is not the SDK's has a slot")
	}
	Unregister(mp)
	if Of(mp) != nil {
		t.Fatal("an unregistered provider still has a slot")
	}
}
