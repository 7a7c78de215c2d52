// Package exporters builds poolscope's OpenTelemetry metric pipeline (a
// *sdkmetric.MeterProvider with its readers, views and resource) from the
// standard OpenTelemetry environment variables, so that every poolscope
// binary is configured the same way as any other OpenTelemetry SDK.
//
//	p, err := exporters.New(ctx, exporters.WithDefaultServiceName("checkout"))
//	if err != nil { ... }                  // every bad variable, named, at once
//	defer p.Shutdown(context.Background()) // flushes; bounded in time
//	otel.SetMeterProvider(p.MeterProvider())
//
// # Variables
//
// Durations are whole milliseconds. A variable set to an empty value counts
// as unset. OTEL_EXPORTER_OTLP_METRICS_X, where it exists, takes precedence
// over OTEL_EXPORTER_OTLP_X.
//
//	variable                                 default                    values
//	OTEL_METRICS_EXPORTER                    otlp (WithDefaultExporter) otlp, prometheus, console, none;
//	                                                                    comma-separated
//	OTEL_METRIC_EXPORT_INTERVAL              60000                      time between two pushes
//	OTEL_METRIC_EXPORT_TIMEOUT               30000                      bound on one push, and on Shutdown
//	OTEL_SERVICE_NAME                        WithDefaultServiceName,    service.name
//	                                         else the executable name
//	OTEL_RESOURCE_ATTRIBUTES                                            k=v,k=v (values percent-encoded)
//	OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL    http/protobuf              grpc, http/protobuf
//	OTEL_EXPORTER_OTLP_ENDPOINT              http://localhost:4318      base URL; http/protobuf appends
//	                                         (grpc: ...:4317)           /v1/metrics; or host:port
//	OTEL_EXPORTER_OTLP_METRICS_ENDPOINT                                 URL used as is
//	OTEL_EXPORTER_OTLP_[METRICS_]HEADERS                                k=v,k=v (values percent-encoded)
//	OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT     10000                      bound on one OTLP request,
//	                                                                    retries included
//	OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION none                       gzip, none
//	OTEL_EXPORTER_OTLP_[METRICS_]INSECURE    false                      true, false; only for host:port
//	                                                                    (a URL's scheme decides otherwise)
//	OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE system roots               PEM file of the CA
//	OTEL_EXPORTER_OTLP_[METRICS_]CLIENT_CERTIFICATE, ..._CLIENT_KEY     PEM files, for mutual TLS
//	OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE       cumulative  cumulative, delta, lowmemory
//	OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION            explicit_bucket_histogram (default),
//	                                                                    base2_exponential_bucket_histogram
//	OTEL_EXPORTER_PROMETHEUS_HOST            127.0.0.1                  WithPrometheusAddr overrides
//	OTEL_EXPORTER_PROMETHEUS_PORT            9464                       both
//
// The OTLP variables are read (and validated) only when otlp is selected, the
// Prometheus ones only when prometheus is: a deployment may set OTLP
// variables for every service and still pick prometheus for one.
//
// The Prometheus exporter listens on the loopback address unless told
// otherwise (OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0 listens on every
// interface); it serves /metrics from a registry of its own.
//
// # Resource
//
// service.name, service.instance.id (a random UUID unless
// OTEL_RESOURCE_ATTRIBUTES or WithResourceAttributes gives one), host.name,
// process.pid, process.executable.name, process.command (argv[0]),
// process.runtime.*, telemetry.sdk.*, plus OTEL_RESOURCE_ATTRIBUTES. The
// command line arguments are never recorded: flags may carry passwords. From
// lowest to highest precedence: detected values, WithDefaultServiceName (or
// the executable name), OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME,
// WithResourceAttributes.
//
// service.name follows the same rule as the service part of the pools'
// client names (CLIENT LIST "service:role:pid"): OTEL_SERVICE_NAME, else
// service.name in OTEL_RESOURCE_ATTRIBUTES, else the program's default, else
// the executable's name. Give both the same default so that the server-side
// and client-side views of a service agree:
//
//	p, _ := pools.FromEnv(pools.WithDefaultServiceName("checkout"))
//	pipe, _ := exporters.New(ctx, exporters.WithDefaultServiceName("checkout"))
//
// # Histograms
//
// Every histogram with unit "s" gets the explicit bucket boundaries of
// internal/latency (10 us to 10 s), through LatencyView, whatever the
// exporter: the SDK's default buckets would put nearly every Redis latency in
// the first one.
//
// Every reader New builds also carries a Producer slot (internal/autoproduce),
// registered under the MeterProvider until Shutdown: instrument.New on that
// provider exports its lock-free duration histograms through it, without a
// Producer wired by hand. With a reader of the caller's (WithReader), which
// would lack the slot, none is registered and instrument uses the SDK's
// histograms.
//
// # Errors and secrets
//
// New validates everything before it builds anything, and returns one error
// that lists every problem, each naming the variable and the value, for
// example:
//
//	exporters: OTEL_METRICS_EXPORTER="foo": unknown exporter (want otlp, prometheus, console or none)
//	exporters: OTEL_EXPORTER_OTLP_TIMEOUT="10s": not a positive whole number of milliseconds
//
// Header values are never shown (only header keys), and a URL's userinfo is
// masked (https://user:***@host). A URL with userinfo is rejected: the OTLP
// exporters would silently drop it, so put credentials in the headers.
// Because validation happens first, the OTLP exporter packages (which log a
// header value they cannot parse) never see a malformed variable.
//
// # A collector that is down
//
// An unreachable OTLP endpoint never blocks the caller nor grows memory
// without bound. New does not connect. Recording is in-memory aggregation.
// The periodic reader exports from its own goroutine, one export at a time,
// each cancelled after OTEL_METRIC_EXPORT_TIMEOUT (and each OTLP request,
// retries included, after OTEL_EXPORTER_OTLP_TIMEOUT), so exports never pile
// up; a failed export is reported to otel.Handle and its data is not queued.
// Shutdown is bounded by its context's deadline, or by
// OTEL_METRIC_EXPORT_TIMEOUT when the context has none.
//
// # Why not autoexport
//
// go.opentelemetry.io/contrib/exporters/autoexport (v0.72.0) reads the same
// variables but does not fit: it reads the process environment with
// os.Getenv, so nothing can be injected (tests would have to mutate the
// process environment); it accepts a single name in OTEL_METRICS_EXPORTER
// ("otlp,prometheus" is an unknown exporter); its errors name neither the
// variable nor the value; it does not tell the address its Prometheus server
// bound (so a test cannot ask for port 0), and binds "localhost", which
// depends on the resolver; and it leaves endpoint, headers and timeouts to
// the exporter packages, which log and ignore a bad value instead of failing.
// This package builds the readers with the same exporter packages autoexport
// uses (otlpmetricgrpc, otlpmetrichttp, prometheus, stdoutmetric) and reads
// the variables through WithLookup (os.LookupEnv by default).
// OTEL_METRICS_PRODUCERS, autoexport's experimental bridge, is not supported.
//
// # What still reads the process environment
//
// The OTLP exporter packages and the SDK read some of these variables from
// the process environment themselves, whatever the lookup. New passes every
// setting explicitly so that the lookup wins, with two exceptions that matter
// only when the lookup is not os.LookupEnv (in tests): gzip compression set
// in the process environment still applies to grpc when the lookup says
// none, because the gRPC exporter has no option for "no compression"; and
// sdkmetric.WithResource merges the process's OTEL_RESOURCE_ATTRIBUTES under
// the resource built here, so a key only the process environment sets still
// appears.
package exporters
