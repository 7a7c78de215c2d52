package exporters

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

type otlpSettings struct {
	protocol    string
	scheme      string // http or https
	host        string // host:port
	path        string // URL path, http/protobuf only
	headers     map[string]string
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
		headers:     map[string]string{},
	}
	if key, v, ok := r.otlpVar("PROTOCOL"); ok {
		switch v {
		case protocolGRPC, protocolHTTPProtobuf:
			o.protocol = v
		case "http/json":
			r.fail(key, v, "not implemented by the Go OTLP exporters (want grpc or http/protobuf)")
		default:
			r.fail(key, v, "unknown protocol (want grpc or http/protobuf)")
		}
	}
	r.otlpEndpoint(&o)
	if key, v, ok := r.otlpVar("HEADERS"); ok {
		o.headers = r.headers(key, v)
	}
	if key, v, ok := r.otlpVar("TIMEOUT"); ok {
		if d, ok := r.milliseconds(key, v); ok {
			o.timeout = d
		}
	}
	if key, v, ok := r.otlpVar("COMPRESSION"); ok {
		switch v {
		case "gzip":
			o.gzip = true
		case "none":
		default:
			r.fail(key, v, "unknown compression (want gzip or none)")
		}
	}
	const temporalityKey = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	if v, ok := r.get(temporalityKey); ok {
		switch strings.ToLower(v) {
		case "cumulative":
		case "delta":
			o.temporality = sdkmetric.DeltaTemporalitySelector
		case "lowmemory":
			o.temporality = sdkmetric.LowMemoryTemporalitySelector
		default:
			r.fail(temporalityKey, v, "unknown temporality (want cumulative, delta or lowmemory)")
		}
	}
	const aggregationKey = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
	if v, ok := r.get(aggregationKey); ok {
		switch strings.ToLower(v) {
		case "explicit_bucket_histogram":
		case "base2_exponential_bucket_histogram":
			o.aggregation = exponentialHistograms
		default:
			r.fail(aggregationKey, v,
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
		insecure, _ = r.boolean(insecureKey, insecureValue)
	}

	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			r.fail(key, redactEndpoint(raw), "not a valid URL")
			return
		case u.Scheme != "http" && u.Scheme != "https":
			r.fail(key, redactEndpoint(raw), "unsupported scheme (want http or https)")
			return
		case u.Host == "":
			r.fail(key, redactEndpoint(raw), "no host")
			return
		case u.User != nil:
			// The OTLP exporters drop userinfo, so credentials written
			// there would silently never be sent.
			r.fail(key, redactEndpoint(raw),
				"credentials in the URL are not sent; put them in OTEL_EXPORTER_OTLP_HEADERS")
			return
		}
		o.scheme, o.host, o.path = u.Scheme, u.Host, u.Path
	} else {
		hp, problem := hostPort(raw)
		if problem != "" {
			r.fail(key, redactEndpoint(raw), "want a URL (http://host:port or https://host:port) or host:port")
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
				r.fail(k, v, fmt.Sprintf("set, but the OTLP endpoint %q is not TLS (http)", redactEndpoint(raw)))
			}
		}
		return
	}
	o.tls = r.tlsConfig()
}

func (r *envReader) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if key, file, ok := r.otlpVar("CERTIFICATE"); ok {
		pem, err := os.ReadFile(file)
		switch {
		case err != nil:
			r.fail(key, file, "cannot read the CA certificate: "+err.Error())
		default:
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				cfg.RootCAs = pool
			} else {
				r.fail(key, file, "no PEM certificate in the file")
			}
		}
	}
	certKey, certFile, certOK := r.otlpVar("CLIENT_CERTIFICATE")
	keyKey, keyFile, keyOK := r.otlpVar("CLIENT_KEY")
	switch {
	case certOK && keyOK:
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			// The error says what is wrong with the files, never their content.
			r.fail(certKey, certFile, fmt.Sprintf("cannot load the client certificate with %s=%q: %v", keyKey, keyFile, err))
		} else {
			cfg.Certificates = []tls.Certificate{pair}
		}
	case certOK:
		r.fail(certKey, certFile, "set without OTEL_EXPORTER_OTLP_CLIENT_KEY")
	case keyOK:
		r.fail(keyKey, keyFile, "set without OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
	}
	return cfg
}

// headers parses key=value pairs separated by commas, values
// percent-encoded. The values are credentials more often than not: no
// message ever contains one, nor an entry that failed to split (it may be a
// bare token); keys are shown.
func (r *envReader) headers(key, value string) map[string]string {
	h := map[string]string{}
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
			r.failHidden(key, fmt.Sprintf("entry %d is not key=value (entry not shown: it may hold a secret)", n))
			continue
		case !validHeaderKey(k):
			r.failHidden(key, fmt.Sprintf("entry %d: %q is not a valid header name", n, k))
			continue
		}
		decoded, err := url.PathUnescape(v)
		if err != nil {
			r.failHidden(key, fmt.Sprintf("value of header %q is not valid percent-encoding (value not shown)", k))
			continue
		}
		decoded = strings.TrimSpace(decoded)
		if !validHeaderValue(decoded) {
			r.failHidden(key, fmt.Sprintf("value of header %q holds control characters (value not shown)", k))
			continue
		}
		h[k] = decoded
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

// redactEndpoint hides the password (or a lone user name, which is often a
// token) of a URL's userinfo: "https://user:***@host". It works on the text,
// so it also redacts values that do not parse as URLs.
func redactEndpoint(s string) string {
	authorityStart := 0
	if i := strings.Index(s, "://"); i >= 0 {
		authorityStart = i + 3
	}
	rest := s[authorityStart:]
	authorityEnd := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authorityEnd = i
	}
	at := strings.LastIndex(rest[:authorityEnd], "@")
	if at < 0 {
		return s
	}
	userinfo := rest[:at]
	redacted := "***"
	if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
		redacted = user + ":***"
	}
	return s[:authorityStart] + redacted + rest[at:]
}
