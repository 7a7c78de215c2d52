package exporters

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Names of the exporters OTEL_METRICS_EXPORTER may list.
const (
	exporterOTLP       = "otlp"
	exporterPrometheus = "prometheus"
	exporterConsole    = "console"
	exporterNone       = "none"
)

// OTLP protocols the Go exporters implement. http/json is in the
// specification but has no Go exporter.
const (
	protocolGRPC         = "grpc"
	protocolHTTPProtobuf = "http/protobuf"
)

// Defaults from the OpenTelemetry specification, except the Prometheus host:
// the specification (and autoexport) say "localhost"; poolscope binds the
// loopback address literally so the choice does not depend on the resolver.
const (
	defaultExportInterval = 60 * time.Second
	defaultExportTimeout  = 30 * time.Second
	defaultOTLPTimeout    = 10 * time.Second
	defaultPrometheusHost = "127.0.0.1"
	defaultPrometheusPort = "9464"
	defaultGRPCEndpoint   = "http://localhost:4317"
	defaultHTTPEndpoint   = "http://localhost:4318"
	otlpMetricsPath       = "/v1/metrics"
)

// ErrInvalidConfig is wrapped by every error New returns for a bad
// environment variable or option value, so callers can tell a configuration
// mistake (exit with a usage message) from a runtime failure such as a busy
// port: errors.Is(err, exporters.ErrInvalidConfig).
var ErrInvalidConfig = errors.New("invalid configuration")

// configError names the variable (or option) and, unless it may hold a
// secret, the offending value.
type configError struct {
	name      string // OTEL_... or an option name such as WithPrometheusAddr
	value     string // already redacted
	showValue bool
	option    bool
	problem   string
}

func (e *configError) Error() string {
	switch {
	case !e.showValue:
		return fmt.Sprintf("exporters: %s: %s", e.name, e.problem)
	case e.option:
		return fmt.Sprintf("exporters: %s(%q): %s", e.name, e.value, e.problem)
	default:
		return fmt.Sprintf("exporters: %s=%q: %s", e.name, e.value, e.problem)
	}
}

func (e *configError) Unwrap() error { return ErrInvalidConfig }

// settings is everything New needs from the environment and the options,
// validated.
type settings struct {
	exporters      []string // deduplicated, in the order given; empty for none
	exportInterval time.Duration
	exportTimeout  time.Duration
	otlp           otlpSettings         // only read when otlp is selected
	prometheusAddr string               // only read when prometheus is selected
	serviceName    string               // OTEL_SERVICE_NAME, "" when unset
	resourceAttrs  []attribute.KeyValue // OTEL_RESOURCE_ATTRIBUTES
}

// envReader reads variables through the lookup and collects every problem.
type envReader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *envReader) get(key string) (string, bool) {
	v, ok := r.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// otlpVar returns the metrics-specific OTLP variable if set, else the generic
// one, and the name of the one that was used.
func (r *envReader) otlpVar(suffix string) (key, value string, ok bool) {
	for _, key := range []string{"OTEL_EXPORTER_OTLP_METRICS_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix} {
		if v, ok := r.get(key); ok {
			return key, v, true
		}
	}
	return "", "", false
}

func (r *envReader) fail(key, value, problem string) {
	r.errs = append(r.errs, &configError{name: key, value: value, showValue: true, problem: problem})
}

func (r *envReader) failOption(name, value, problem string) {
	r.errs = append(r.errs, &configError{name: name, value: value, showValue: true, option: true, problem: problem})
}

func (r *envReader) failHidden(key, problem string) {
	r.errs = append(r.errs, &configError{name: key, problem: problem})
}

// milliseconds reads a positive whole number of milliseconds, the unit of
// every OpenTelemetry duration variable.
func (r *envReader) milliseconds(key, value string) (time.Duration, bool) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n <= 0 || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
		r.fail(key, value, "not a positive whole number of milliseconds")
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

func (r *envReader) duration(key string, def time.Duration) time.Duration {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if d, ok := r.milliseconds(key, v); ok {
		return d
	}
	return def
}

func (r *envReader) boolean(key, value string) (b, ok bool) {
	switch strings.ToLower(value) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	r.fail(key, value, "not a boolean (want true or false)")
	return false, false
}

// readSettings reads and validates the environment and the options. It
// returns every problem at once, joined.
func readSettings(c *config) (settings, error) {
	r := &envReader{lookup: c.lookup}
	var s settings

	s.exporters = r.exporters(c.defaultExporter)
	s.exportInterval = r.duration("OTEL_METRIC_EXPORT_INTERVAL", defaultExportInterval)
	s.exportTimeout = r.duration("OTEL_METRIC_EXPORT_TIMEOUT", defaultExportTimeout)
	s.serviceName, _ = r.get("OTEL_SERVICE_NAME")
	s.resourceAttrs = r.resourceAttributes()

	for _, e := range s.exporters {
		switch e {
		case exporterOTLP:
			s.otlp = r.otlpSettings()
		case exporterPrometheus:
			s.prometheusAddr = r.prometheusAddr(c.prometheusAddr)
		}
	}
	return s, errors.Join(r.errs...)
}

const wantExporters = "want otlp, prometheus, console or none"

func (r *envReader) exporters(fallback string) []string {
	key := "OTEL_METRICS_EXPORTER"
	value, ok := r.get(key)
	fail := r.fail
	if !ok {
		key, value, fail = "WithDefaultExporter", strings.TrimSpace(fallback), r.failOption
		if value == "" {
			return []string{exporterOTLP}
		}
	}
	items := strings.Split(value, ",")
	errsBefore := len(r.errs)
	var names []string
	seen := map[string]bool{}
	none := false
	for _, item := range items {
		name := strings.TrimSpace(item)
		switch name {
		case "":
			continue
		case exporterNone:
			none = true
		case exporterOTLP, exporterPrometheus, exporterConsole:
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		default:
			if len(items) == 1 {
				fail(key, value, "unknown exporter ("+wantExporters+")")
			} else {
				fail(key, value, fmt.Sprintf("unknown exporter %q (%s)", name, wantExporters))
			}
		}
	}
	switch {
	case none && len(names) > 0:
		fail(key, value, "none cannot be combined with other exporters")
		return nil
	case none:
		return nil
	case len(names) == 0 && len(r.errs) == errsBefore:
		fail(key, value, "no exporter named ("+wantExporters+")")
	}
	return names
}

// resourceAttributes parses OTEL_RESOURCE_ATTRIBUTES: key=value pairs
// separated by commas, values percent-encoded. Resource attributes are sent
// with every export, so they are not secret and may be quoted in errors.
func (r *envReader) resourceAttributes() []attribute.KeyValue {
	const key = "OTEL_RESOURCE_ATTRIBUTES"
	value, ok := r.get(key)
	if !ok {
		return nil
	}
	var attrs []attribute.KeyValue
	for entry := range strings.SplitSeq(value, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, v, found := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		switch {
		case !found:
			r.fail(key, value, fmt.Sprintf("entry %q is not key=value", entry))
			continue
		case k == "":
			r.fail(key, value, fmt.Sprintf("entry %q has an empty key", entry))
			continue
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			r.fail(key, value, fmt.Sprintf("value of %q is not valid percent-encoding", k))
			continue
		}
		attrs = append(attrs, attribute.String(k, decoded))
	}
	return attrs
}

func (r *envReader) prometheusAddr(fromOption string) string {
	if fromOption != "" {
		addr, problem := hostPort(fromOption)
		if problem != "" {
			r.failOption("WithPrometheusAddr", fromOption, problem)
		}
		return addr
	}
	host, ok := r.get("OTEL_EXPORTER_PROMETHEUS_HOST")
	if !ok {
		host = defaultPrometheusHost
	} else if !validListenHost(host) {
		r.fail("OTEL_EXPORTER_PROMETHEUS_HOST", host, "not an IP address or host name")
	}
	port, ok := r.get("OTEL_EXPORTER_PROMETHEUS_PORT")
	if !ok {
		port = defaultPrometheusPort
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		r.fail("OTEL_EXPORTER_PROMETHEUS_PORT", port, "not a port number (0 to 65535)")
	} else {
		port = strconv.FormatUint(n, 10)
	}
	return net.JoinHostPort(host, port)
}

// hostPort checks a host:port value and returns it normalised, or what is
// wrong with it.
func hostPort(value string) (addr, problem string) {
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		return "", "not host:port"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", "not a port number (0 to 65535)"
	}
	return net.JoinHostPort(host, port), ""
}

// validListenHost reports whether host can name an address to listen on:
// empty (every interface), an IP address, or a DNS name (RFC 1123 labels).
// Whether the name resolves is for the listener to find out.
func validListenHost(host string) bool {
	if host == "" || net.ParseIP(host) != nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
