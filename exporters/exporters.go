package exporters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/poolscope/poolscope/internal/autoproduce"
)

// Pipeline is the OpenTelemetry metric pipeline New builds: a MeterProvider
// with the readers the environment selects, the shared latency view and the
// process's resource.
type Pipeline struct {
	provider       *sdkmetric.MeterProvider
	exporters      []string
	prometheusAddr string
	exportTimeout  time.Duration
	// slot is on every reader New built, registered for instrument when
	// the pipeline has no reader of the caller's (see autoproduce).
	slot *autoproduce.Slot

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds the metric pipeline from the OpenTelemetry environment
// variables (see the package documentation) and the options.
//
// A bad variable or option value fails New with one error that lists every
// problem, each naming the variable and its value (never a header value), and
// wraps ErrInvalidConfig. New does not wait for any exporter endpoint: a
// collector that is down shows up later as export errors sent to
// otel.Handle, never as a blocked caller.
//
// New does not install the MeterProvider globally; call
// otel.SetMeterProvider(p.MeterProvider()) for that. Call Shutdown before the
// process exits, or the last interval's measurements are lost.
func New(ctx context.Context, opts ...Option) (*Pipeline, error) {
	c := newConfig(opts)
	s, err := readSettings(c)
	if err != nil {
		return nil, err
	}

	p := &Pipeline{
		exporters:     s.exporters,
		exportTimeout: s.exportTimeout,
		slot:          &autoproduce.Slot{},
	}
	producers := append(slices.Clone(c.producers), p.slot)
	var readers []sdkmetric.Reader
	var errs []error
	for _, name := range s.exporters {
		var r sdkmetric.Reader
		var err error
		switch name {
		case exporterOTLP:
			r, err = newOTLPReader(ctx, s, producers)
		case exporterPrometheus:
			var pr *prometheusReader
			pr, err = newPrometheusReader(ctx, s.prometheusAddr, producers)
			if err == nil {
				r, p.prometheusAddr = pr, pr.addr
			}
		case exporterConsole:
			r, err = newConsoleReader(c.consoleWriter, s, producers)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		readers = append(readers, r)
	}
	readers = append(readers, c.readers...)
	if len(errs) > 0 {
		// Release what was built (a listening socket, a gRPC client) so a
		// caller that retries does not leak it. The readers have not been
		// registered with a provider yet, so each is shut down on its own.
		for _, r := range readers {
			errs = append(errs, r.Shutdown(ctx))
		}
		return nil, errors.Join(errs...)
	}

	mpOpts := []sdkmetric.Option{
		sdkmetric.WithResource(newResource(ctx, c, s)),
		sdkmetric.WithView(LatencyView()),
	}
	for _, r := range readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	p.provider = sdkmetric.NewMeterProvider(mpOpts...)
	if len(c.readers) == 0 {
		// instrument.New on this provider then exports its duration
		// histograms through the slot, without a Producer of the caller's.
		autoproduce.Register(p.provider, p.slot)
	}
	return p, nil
}

// MeterProvider returns the provider to create meters from.
func (p *Pipeline) MeterProvider() *sdkmetric.MeterProvider { return p.provider }

// Exporters returns the exporters in use, in the order
// OTEL_METRICS_EXPORTER lists them ("otlp", "prometheus", "console"); it is
// empty for "none". Readers added with WithReader are not listed.
func (p *Pipeline) Exporters() []string { return slices.Clone(p.exporters) }

// PrometheusAddr returns the address the Prometheus exporter listens on, the
// real port when port 0 was asked for, or "" when the prometheus exporter is
// not in use. Metrics are served at http://PrometheusAddr()/metrics.
func (p *Pipeline) PrometheusAddr() string { return p.prometheusAddr }

// Shutdown exports what has been recorded since the last export
// (ForceFlush), then stops every reader and exporter and closes the
// Prometheus listener. If ctx has no deadline, OTEL_METRIC_EXPORT_TIMEOUT
// (default 30 s) bounds the whole call, so an unreachable collector delays
// the process's exit by at most that much; in practice by one OTLP request
// timeout, as nothing is exported again once the flush failed. Only the first
// call does the work; later calls return its result.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		autoproduce.Unregister(p.provider)
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, p.exportTimeout)
			defer cancel()
		}
		flushErr := p.provider.ForceFlush(ctx)
		shutdownWhat := "shutdown"
		if flushErr != nil {
			shutdownWhat = "shutdown without a final export (the flush failed)"
			// MeterProvider.Shutdown exports once more. After a failed flush
			// that export would most likely fail the same way after the same
			// wait, doubling the time a process takes to exit while its
			// collector is down: release everything without exporting again.
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			cancel()
		}
		shutdownErr := p.provider.Shutdown(ctx)
		if flushErr != nil {
			flushErr = fmt.Errorf("exporters: flush: %w", flushErr)
		}
		if shutdownErr != nil {
			shutdownErr = fmt.Errorf("exporters: %s: %w", shutdownWhat, shutdownErr)
		}
		p.shutdownErr = errors.Join(flushErr, shutdownErr)
	})
	return p.shutdownErr
}
