package exporters

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOTLPEndpointResolution(t *testing.T) {
	tests := []struct {
		name       string
		vars       map[string]string
		wantScheme string
		wantHost   string
		wantPath   string
	}{
		{
			name:       "http/protobuf default",
			wantScheme: "http", wantHost: "localhost:4318", wantPath: "/v1/metrics",
		},
		{
			name:       "grpc default",
			vars:       map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			wantScheme: "http", wantHost: "localhost:4317", wantPath: "/v1/metrics",
		},
		{
			name:       "base URL gets /v1/metrics",
			vars:       map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"},
			wantScheme: "https", wantHost: "collector:4318", wantPath: "/v1/metrics",
		},
		{
			name:       "base URL with a path and a trailing slash",
			vars:       map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gateway/otlp/"},
			wantScheme: "https", wantHost: "gateway", wantPath: "/otlp/v1/metrics",
		},
		{
			name: "metrics URL is used as is",
			vars: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":         "https://ignored:1",
				"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector:4318/custom",
			},
			wantScheme: "https", wantHost: "collector:4318", wantPath: "/custom",
		},
		{
			name:       "metrics URL without a path gets /",
			vars:       map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4318"},
			wantScheme: "http", wantHost: "collector:4318", wantPath: "/",
		},
		{
			name:       "host:port is TLS by default",
			vars:       map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
			wantScheme: "https", wantHost: "collector:4317", wantPath: "/v1/metrics",
		},
		{
			name: "host:port with insecure",
			vars: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
				"OTEL_EXPORTER_OTLP_INSECURE": "TRUE",
			},
			wantScheme: "http", wantHost: "collector:4317", wantPath: "/v1/metrics",
		},
		{
			name: "metrics-specific insecure wins",
			vars: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":         "collector:4317",
				"OTEL_EXPORTER_OTLP_INSECURE":         "true",
				"OTEL_EXPORTER_OTLP_METRICS_INSECURE": "false",
			},
			wantScheme: "https", wantHost: "collector:4317", wantPath: "/v1/metrics",
		},
		{
			name: "a URL's scheme decides, not insecure",
			vars: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317",
				"OTEL_EXPORTER_OTLP_INSECURE": "true",
			},
			wantScheme: "https", wantHost: "collector:4317", wantPath: "/v1/metrics",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := readSettings(newConfig([]Option{env(tt.vars)}))
			if err != nil {
				t.Fatal(err)
			}
			o := s.otlp
			if o.scheme != tt.wantScheme || o.host != tt.wantHost || o.path != tt.wantPath {
				t.Errorf("endpoint = %s://%s%s, want %s://%s%s", o.scheme, o.host, o.path, tt.wantScheme, tt.wantHost, tt.wantPath)
			}
			if got, want := o.tls != nil, tt.wantScheme == "https"; got != want {
				t.Errorf("TLS configured: %v, want %v", got, want)
			}
		})
	}
}

func TestOTLPTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"}

	t.Run("CA and client pair", func(t *testing.T) {
		s, err := readSettings(newConfig([]Option{env(with(base,
			"OTEL_EXPORTER_OTLP_CERTIFICATE", certFile,
			"OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", certFile,
			"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", keyFile,
		))}))
		if err != nil {
			t.Fatal(err)
		}
		if s.otlp.tls.RootCAs == nil {
			t.Error("no root CAs")
		}
		if len(s.otlp.tls.Certificates) != 1 {
			t.Errorf("%d client certificates, want 1", len(s.otlp.tls.Certificates))
		}
	})

	t.Run("no PEM in the CA file", func(t *testing.T) {
		_, err := readSettings(newConfig([]Option{env(with(base, "OTEL_EXPORTER_OTLP_CERTIFICATE", garbage))}))
		want := `exporters: OTEL_EXPORTER_OTLP_CERTIFICATE="` + garbage + `": no PEM certificate in the file`
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %s", err, want)
		}
	})

	t.Run("client key is not a key", func(t *testing.T) {
		_, err := readSettings(newConfig([]Option{env(with(base,
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", certFile,
			"OTEL_EXPORTER_OTLP_CLIENT_KEY", garbage,
		))}))
		want := `exporters: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="` + certFile + `": cannot load the client certificate with OTEL_EXPORTER_OTLP_CLIENT_KEY="` + garbage + `"`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error = %v, want it to start with %s", err, want)
		}
	})
}

// writeSelfSigned writes a throwaway self-signed certificate and its key.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "poolscope test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestPrometheusHostChecked(t *testing.T) {
	for host, ok := range map[string]bool{
		"127.0.0.1": true, "::1": true, "": true, "localhost": true, "metrics.internal.": true,
		"not a host": false, "exa_mple.com": false, "-bad.example": false, "a..b": false,
	} {
		if got := validListenHost(host); got != ok {
			t.Errorf("validListenHost(%q) = %v, want %v", host, got, ok)
		}
	}
	vars := map[string]string{"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_HOST": "not a host"}
	_, err := New(context.Background(), WithLookup(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(fmt.Sprint(err), `OTEL_EXPORTER_PROMETHEUS_HOST="not a host"`) {
		t.Errorf("a bad host gives %v, want an ErrInvalidConfig naming the variable and value", err)
	}
}
