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

	"github.com/poolscope/poolscope/internal/envvar"
	"github.com/poolscope/poolscope/internal/servicename"
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

// settings is everything New needs from the environment and the options,
// validated.
type settings struct {
	exporters      []string // deduplicated, in the order given; empty for none
	exportInterval time.Duration
	exportTimeout  time.Duration
	otlp           otlpSettings         // only read when otlp is selected
	prometheusAddr string               // only read when prometheus is selected
	serviceName    string               // by the rule of internal/servicename
	resourceAttrs  []attribute.KeyValue // OTEL_RESOURCE_ATTRIBUTES
}

// envReader is poolscope's one variable reader (internal/envvar) with the
// OTEL_* parsers on top. Every problem wraps ErrInvalidConfig; values that
// are empty or only spaces count as unset, as the specification asks.
type envReader struct{ *envvar.Reader }

func newEnvReader(lookup func(string) (string, bool)) *envReader {
	return &envReader{envvar.New("exporters", lookup, envvar.BlankIsUnset(), envvar.Wrapping(ErrInvalidConfig))}
}

// otlpVar returns the metrics-specific OTLP variable if set, else the generic
// one, and the name of the one that was used.
func (r *envReader) otlpVar(suffix string) (key, value string, ok bool) {
	for _, key := range []string{"OTEL_EXPORTER_OTLP_METRICS_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix} {
		if v, ok := r.Lookup(key); ok {
			return key, v, true
		}
	}
	return "", "", false
}

func (r *envReader) duration(key string, def time.Duration) time.Duration {
	v, ok := r.Lookup(key)
	if !ok {
		return def
	}
	if d, ok := r.Milliseconds(key, v); ok {
		return d
	}
	return def
}

// readSettings reads and validates the environment and the options. It
// returns every problem at once, joined.
func readSettings(c *config) (settings, error) {
	r := newEnvReader(c.lookup)
	var s settings

	s.exporters = r.exporters(c.defaultExporter)
	s.exportInterval = r.duration("OTEL_METRIC_EXPORT_INTERVAL", defaultExportInterval)
	s.exportTimeout = r.duration("OTEL_METRIC_EXPORT_TIMEOUT", defaultExportTimeout)
	s.serviceName, _ = servicename.Resolve(c.lookup, c.defaultServiceName)
	s.resourceAttrs = r.resourceAttributes()

	for _, e := range s.exporters {
		switch e {
		case exporterOTLP:
			s.otlp = r.otlpSettings()
		case exporterPrometheus:
			s.prometheusAddr = r.prometheusAddr(c.prometheusAddr)
		}
	}
	return s, r.Err()
}

const wantExporters = "want otlp, prometheus, console or none"

func (r *envReader) exporters(fallback string) []string {
	key := "OTEL_METRICS_EXPORTER"
	value, ok := r.Lookup(key)
	fail := r.Fail
	if !ok {
		key, value, fail = "WithDefaultExporter", strings.TrimSpace(fallback), r.FailOption
		if value == "" {
			return []string{exporterOTLP}
		}
	}
	items := strings.Split(value, ",")
	errsBefore := r.Count()
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
	case len(names) == 0 && r.Count() == errsBefore:
		fail(key, value, "no exporter named ("+wantExporters+")")
	}
	return names
}

// resourceAttributes parses OTEL_RESOURCE_ATTRIBUTES: key=value pairs
// separated by commas, values percent-encoded. Resource attributes are sent
// with every export, so they are not secret and may be quoted in errors.
func (r *envReader) resourceAttributes() []attribute.KeyValue {
	const key = "OTEL_RESOURCE_ATTRIBUTES"
	value, ok := r.Lookup(key)
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
			r.Fail(key, value, fmt.Sprintf("entry %q is not key=value", entry))
			continue
		case k == "":
			r.Fail(key, value, fmt.Sprintf("entry %q has an empty key", entry))
			continue
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			r.Fail(key, value, fmt.Sprintf("value of %q is not valid percent-encoding", k))
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
			r.FailOption("WithPrometheusAddr", fromOption, problem)
		}
		return addr
	}
	host, ok := r.Lookup("OTEL_EXPORTER_PROMETHEUS_HOST")
	if !ok {
		host = defaultPrometheusHost
	} else if !validListenHost(host) {
		r.Fail("OTEL_EXPORTER_PROMETHEUS_HOST", host, "not an IP address or host name")
	}
	port, ok := r.Lookup("OTEL_EXPORTER_PROMETHEUS_PORT")
	if !ok {
		port = defaultPrometheusPort
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		r.Fail("OTEL_EXPORTER_PROMETHEUS_PORT", port, "not a port number (0 to 65535)")
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
