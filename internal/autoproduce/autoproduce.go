// Package autoproduce gives instrument's lock-free duration histograms to
// programs that build their metric pipeline with exporters.New, without
// wiring a Producer into every reader by hand.
//
// The OpenTelemetry Go SDK has no asynchronous histogram, so those
// histograms reach the readers through a Producer, which is a reader
// option: it must be given when each reader is built, before instrument.New
// runs. exporters.New therefore attaches a Slot to every reader it builds
// and registers it under the MeterProvider it returns; instrument.New,
// given that MeterProvider and no Producer of the caller's, stores its own
// Producer in the slot and uses it. A pipeline with readers of the caller's
// (exporters.WithReader) registers no slot: those readers would lack it.
package autoproduce

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Slot is a Producer on every reader of one MeterProvider: it produces what
// the Producer stored in it produces, and nothing until one is stored.
type Slot struct {
	p atomic.Pointer[stored]
}

// stored boxes the interface for atomic.Pointer.
type stored struct{ sdkmetric.Producer }

var _ sdkmetric.Producer = (*Slot)(nil)

// Produce returns the stored Producer's metrics, none while it is empty.
func (s *Slot) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	if p := s.p.Load(); p != nil {
		return p.Produce(ctx)
	}
	return nil, nil
}

// LoadOrStore returns the Producer stored in s, storing p first when s is
// empty: every caller on one MeterProvider gets the same Producer.
func (s *Slot) LoadOrStore(p sdkmetric.Producer) sdkmetric.Producer {
	s.p.CompareAndSwap(nil, &stored{p})
	return s.p.Load().Producer
}

// slots maps each registered MeterProvider to its Slot.
var slots sync.Map // *sdkmetric.MeterProvider -> *Slot

// Register makes s the slot of mp, whose every reader has s attached.
func Register(mp *sdkmetric.MeterProvider, s *Slot) { slots.Store(mp, s) }

// Unregister forgets mp's slot (its pipeline was shut down).
func Unregister(mp *sdkmetric.MeterProvider) { slots.Delete(mp) }

// Of returns mp's slot, or nil when mp is not a MeterProvider that
// exporters.New built with a slot on every reader.
func Of(mp metric.MeterProvider) *Slot {
	smp, ok := mp.(*sdkmetric.MeterProvider)
	if !ok {
		return nil
	}
	if s, ok := slots.Load(smp); ok {
		return s.(*Slot)
	}
	return nil
}
