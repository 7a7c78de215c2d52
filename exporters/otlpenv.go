package exporters

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/poolscope/poolscope/internal/redisurl"
	"github.com/poolscope/poolscope/internal/tlsfiles"
	"github.com/poolscope/poolscope/secret"
)

type otlpSettings struct {
	protocol    string
	scheme      string                   // http or https
	host        string                   // host:port
	path        string                   // URL path, http/protobuf only
	headers     map[string]secret.String // values are credentials more often than not
	timeout     time.Duration
	gzip        bool
	tls         *tls.Config // nil when insecure
	temporality sdkmetric.TemporalitySelector
	aggregation sdkmetric.AggregationSelector
}

// otlpSettings reads the OTEL_EXPORTER_OTLP_* variables, each
// metrics-specific one first.
func (r *envReader) otlpSettings() otlpSettings {
	o := otlpSettings{
		protocol:    protocolHTTPProtobuf,
		timeout:     defaultOTLPTimeout,
		temporality: sdkmetric.CumulativeTemporalitySelector,
		aggregation: sdkmetric.DefaultAggregationSelector,
		headers:     map[string]secret.String{},
	}
	if key, v, ok := r.otlpVar("PROTOCOL"); ok {
		switch v {
		case protocolGRPC, protocolHTTPProtobuf:
			o.protocol = v
		case "http/json":
			r.Fail(key, v, "not implemented by the Go OTLP exporters (want grpc or http/protobuf)")
		default:
			r.Fail(key, v, "unknown protocol (want grpc or http/protobuf)")
		}
	}
	r.otlpEndpoint(&o)
	if key, v, ok := r.otlpVar("HEADERS"); ok {
		o.headers = r.headers(key, v)
	}
	if key, v, ok := r.otlpVar("TIMEOUT"); ok {
		if d, ok := r.Milliseconds(key, v); ok {
			o.timeout = d
		}
	}
	if key, v, ok := r.otlpVar("COMPRESSION"); ok {
		switch v {
		case "gzip":
			o.gzip = true
		case "none":
		default:
			r.Fail(key, v, "unknown compression (want gzip or none)")
		}
	}
	const temporalityKey = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	if v, ok := r.Lookup(temporalityKey); ok {
		switch strings.ToLower(v) {
		case "cumulative":
		case "delta":
			o.temporality = sdkmetric.DeltaTemporalitySelector
		case "lowmemory":
			o.temporality = sdkmetric.LowMemoryTemporalitySelector
		default:
			r.Fail(temporalityKey, v, "unknown temporality (want cumulative, delta or lowmemory)")
		}
	}
	const aggregationKey = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
	if v, ok := r.Lookup(aggregationKey); ok {
		switch strings.ToLower(v) {
		case "explicit_bucket_histogram":
		case "base2_exponential_bucket_histogram":
			o.aggregation = exponentialHistograms
		default:
			r.Fail(aggregationKey, v,
				"unknown aggregation (want explicit_bucket_histogram or base2_exponential_bucket_histogram)")
		}
	}
	return o
}

// exponentialHistograms uses the specification's default exponential
// histogram (160 buckets, scale 20) for histograms that no view configures.
// LatencyView still gives duration histograms (unit "s") explicit buckets.
func exponentialHistograms(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	if k == sdkmetric.InstrumentKindHistogram {
		return sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
	}
	return sdkmetric.DefaultAggregationSelector(k)
}

// otlpEndpoint resolves the endpoint, the transport security and the TLS
// material. OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as is;
// OTEL_EXPORTER_OTLP_ENDPOINT is a base URL to which http/protobuf appends
// /v1/metrics. A URL's scheme decides the security (http: plain, https: TLS);
// OTEL_EXPORTER_OTLP_INSECURE only decides for a host:port without a scheme,
// as the specification says.
func (r *envReader) otlpEndpoint(o *otlpSettings) {
	key, raw, ok := r.otlpVar("ENDPOINT")
	if !ok {
		key, raw = "", defaultHTTPEndpoint
		if o.protocol == protocolGRPC {
			raw = defaultGRPCEndpoint
		}
	}
	signalSpecific := strings.HasPrefix(key, "OTEL_EXPORTER_OTLP_METRICS_")

	insecureKey, insecureValue, insecureSet := r.otlpVar("INSECURE")
	insecure := false
	if insecureSet {
		insecure, _ = r.Bool(insecureKey, insecureValue)
	}

	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			r.Fail(key, redisurl.Redact(raw), "not a valid URL")
			return
		case u.Scheme != "http" && u.Scheme != "https":
			r.Fail(key, redisurl.Redact(raw), "unsupported scheme (want http or https)")
			return
		case u.Host == "":
			r.Fail(key, redisurl.Redact(raw), "no host")
			return
		case u.User != nil:
			// The OTLP exporters drop userinfo, so credentials written
			// there would silently never be sent.
			r.Fail(key, redisurl.Redact(raw),
				"credentials in the URL are not sent; put them in OTEL_EXPORTER_OTLP_HEADERS")
			return
		}
		o.scheme, o.host, o.path = u.Scheme, u.Host, u.Path
	} else {
		hp, problem := hostPort(raw)
		if problem != "" {
			r.Fail(key, redisurl.Redact(raw), "want a URL (http://host:port or https://host:port) or host:port")
			return
		}
		o.scheme, o.host = "https", hp
		if insecure {
			o.scheme = "http"
		}
	}
	switch {
	case signalSpecific && o.path == "":
		o.path = "/"
	case !signalSpecific:
		o.path = strings.TrimSuffix(o.path, "/") + otlpMetricsPath
	}

	if o.scheme == "http" {
		for _, suffix := range []string{"CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
			if k, v, ok := r.otlpVar(suffix); ok {
				r.Fail(k, v, fmt.Sprintf("set, but the OTLP endpoint %q is not TLS (http)", redisurl.Redact(raw)))
			}
		}
		return
	}
	o.tls = r.tlsConfig()
}

// tlsConfig loads the OTLP CA and client certificate files with the one
// TLS-file loader (internal/tlsfiles).
func (r *envReader) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	file := func(suffix string) tlsfiles.File {
		key, path, ok := r.otlpVar(suffix)
		if !ok {
			key = "OTEL_EXPORTER_OTLP_" + suffix
		}
		return tlsfiles.File{Var: key, Path: path}
	}
	errs := tlsfiles.Load(cfg, tlsfiles.Files{CA: file("CERTIFICATE"), Cert: file("CLIENT_CERTIFICATE"), Key: file("CLIENT_KEY")})
	for _, err := range errs {
		var fe *tlsfiles.Error
		if errors.As(err, &fe) {
			r.Fail(fe.Var, fe.Path, fe.Problem)
		}
	}
	return cfg
}

// headers parses key=value pairs separated by commas, values
// percent-encoded. The values are credentials more often than not: no
// message ever contains one, nor an entry that failed to split (it may be a
// bare token); keys are shown.
func (r *envReader) headers(key, value string) map[string]secret.String {
	h := map[string]secret.String{}
	n := 0
	for entry := range strings.SplitSeq(value, ",") {
		n++
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, v, found := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		switch {
		case !found:
			r.FailHidden(key, fmt.Sprintf("entry %d is not key=value (entry not shown: it may hold a secret)", n))
			continue
		case !validHeaderKey(k):
			r.FailHidden(key, fmt.Sprintf("entry %d: %q is not a valid header name", n, k))
			continue
		}
		decoded, err := url.PathUnescape(v)
		if err != nil {
			r.FailHidden(key, fmt.Sprintf("value of header %q is not valid percent-encoding (value not shown)", k))
			continue
		}
		decoded = strings.TrimSpace(decoded)
		if !validHeaderValue(decoded) {
			r.FailHidden(key, fmt.Sprintf("value of header %q holds control characters (value not shown)", k))
			continue
		}
		h[k] = secret.String(decoded)
	}
	return h
}

// revealHeaders is the one place the header values leave their
// secret.String: the exporter sends them.
func (o otlpSettings) revealHeaders() map[string]string {
	h := make(map[string]string, len(o.headers))
	for k, v := range o.headers {
		h[k] = v.Value()
	}
	return h
}

// validHeaderKey reports whether k is an HTTP token (RFC 9110), the rule the
// OTLP exporters apply.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		ok := c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", c))
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters, which would let a decoded
// value split the request's headers.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
