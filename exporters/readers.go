package exporters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprometheus "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// newOTLPReader builds a periodic reader around an OTLP exporter. The OTLP
// exporter packages read OTEL_EXPORTER_OTLP_* from the process environment
// themselves before applying options; every setting is therefore passed
// explicitly, so that what the lookup said wins (see the package
// documentation for the one exception).
func newOTLPReader(ctx context.Context, s settings, producers []sdkmetric.Producer) (sdkmetric.Reader, error) {
	o := s.otlp
	var exp sdkmetric.Exporter
	var err error
	switch o.protocol {
	case protocolGRPC:
		creds := insecure.NewCredentials()
		if o.tls != nil {
			creds = credentials.NewTLS(o.tls)
		}
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithEndpoint(o.host),
			otlpmetricgrpc.WithTLSCredentials(creds),
			otlpmetricgrpc.WithHeaders(o.revealHeaders()),
			otlpmetricgrpc.WithTimeout(o.timeout),
			otlpmetricgrpc.WithTemporalitySelector(o.temporality),
			otlpmetricgrpc.WithAggregationSelector(o.aggregation),
		}
		if o.gzip {
			opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	default:
		compression := otlpmetrichttp.NoCompression
		if o.gzip {
			compression = otlpmetrichttp.GzipCompression
		}
		u := url.URL{Scheme: o.scheme, Host: o.host, Path: o.path}
		exp, err = otlpmetrichttp.New(ctx,
			// First, so that a nil (plain http) clears a TLS configuration the
			// exporter may have read from the process environment.
			otlpmetrichttp.WithTLSClientConfig(o.tls),
			otlpmetrichttp.WithEndpointURL(u.String()),
			otlpmetrichttp.WithHeaders(o.revealHeaders()),
			otlpmetrichttp.WithTimeout(o.timeout),
			otlpmetrichttp.WithCompression(compression),
			otlpmetrichttp.WithTemporalitySelector(o.temporality),
			otlpmetrichttp.WithAggregationSelector(o.aggregation),
		)
	}
	if err != nil {
		// The exporters' errors do not contain header values.
		return nil, fmt.Errorf("exporters: otlp (%s): %w", o.protocol, err)
	}
	return newPeriodicReader(exp, s, producers), nil
}

func newConsoleReader(w io.Writer, s settings, producers []sdkmetric.Producer) (sdkmetric.Reader, error) {
	exp, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, fmt.Errorf("exporters: console: %w", err)
	}
	return newPeriodicReader(exp, s, producers), nil
}

// newPeriodicReader passes interval and timeout explicitly: the SDK would
// otherwise read OTEL_METRIC_EXPORT_* from the process environment.
//
// The timeout is what keeps a dead endpoint harmless: the reader exports from
// one goroutine, one export at a time, and each export (retries included) is
// cancelled after the timeout, so exports never pile up. Measurements are
// aggregated in place between exports, so memory depends on the number of
// series, not on how long the endpoint has been down.
func newPeriodicReader(exp sdkmetric.Exporter, s settings, producers []sdkmetric.Producer) sdkmetric.Reader {
	return sdkmetric.NewPeriodicReader(exp, append([]sdkmetric.PeriodicReaderOption{
		sdkmetric.WithInterval(s.exportInterval),
		sdkmetric.WithTimeout(s.exportTimeout),
	}, periodicProducers(producers)...)...)
}

// prometheusReader is the Prometheus exporter's reader together with the
// HTTP server that serves it; shutting down the reader stops the server.
type prometheusReader struct {
	sdkmetric.Reader
	addr   string
	server *http.Server
	served chan struct{} // closed when Serve has returned
}

// Timeouts for the /metrics server: a scrape of a few hundred series takes
// milliseconds, and a client that holds a connection open without sending a
// request must not keep a goroutine forever.
const (
	prometheusReadTimeout  = 5 * time.Second
	prometheusWriteTimeout = 10 * time.Second
	prometheusIdleTimeout  = 2 * time.Minute
)

func newPrometheusReader(ctx context.Context, addr string, producers []sdkmetric.Producer) (*prometheusReader, error) {
	// A registry of our own: the global one would mix in whatever else the
	// process registered, and a second Pipeline would collide with the first.
	reg := prometheus.NewRegistry()
	exp, err := otelprometheus.New(append([]otelprometheus.Option{otelprometheus.WithRegisterer(reg)}, prometheusProducers(producers)...)...)
	if err != nil {
		return nil, fmt.Errorf("exporters: prometheus: %w", err)
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, errors.Join(
			fmt.Errorf("exporters: prometheus: listen on %s (OTEL_EXPORTER_PROMETHEUS_HOST/PORT): %w", addr, err),
			exp.Shutdown(ctx),
		)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	r := &prometheusReader{
		Reader: exp,
		addr:   lis.Addr().String(),
		server: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: prometheusReadTimeout,
			ReadTimeout:       prometheusReadTimeout,
			WriteTimeout:      prometheusWriteTimeout,
			IdleTimeout:       prometheusIdleTimeout,
		},
		served: make(chan struct{}),
	}
	go func() {
		defer close(r.served)
		if err := r.server.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			otel.Handle(fmt.Errorf("exporters: prometheus: server on %s stopped: %w", r.addr, err))
		}
	}()
	return r, nil
}

func (r *prometheusReader) Shutdown(ctx context.Context) error {
	err := errors.Join(r.Reader.Shutdown(ctx), r.server.Shutdown(ctx))
	if err != nil {
		// Shutdown gave up waiting for a scrape in progress: cut it off.
		err = errors.Join(err, r.server.Close())
	}
	<-r.served
	if err != nil {
		return fmt.Errorf("exporters: prometheus: %w", err)
	}
	return nil
}
