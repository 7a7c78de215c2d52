package pools

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/poolscope/poolscope/internal/tlsfiles"
)

// TLSConfig holds the REDIS_TLS_* variables.
type TLSConfig struct {
	CAFile, CertFile, KeyFile string
	ServerName                string
	InsecureSkipVerify        bool
}

// ClientConfig builds the client TLS settings from the REDIS_TLS_*
// variables: the CA bundle (system roots when unset), the client
// certificate, the server name and InsecureSkipVerify; TLS 1.2 at least.
// Errors name the variable and the file, never a file's contents. The
// agent and any other program that dials the pools' servers itself use it
// to verify them the same way.
func (t TLSConfig) ClientConfig() (*tls.Config, error) {
	cfg, errs := buildTLSConfig(t)
	return cfg, errors.Join(errs...)
}

// TLSClientConfig is the TLS configuration the pools dial rediss:// URLs
// with (c.TLS.ClientConfig(), already loaded when c came from LoadConfig).
// The result is a copy the caller may change. The server name is empty
// unless REDIS_TLS_SERVER_NAME is set: set it to the host being dialled.
func (c Config) TLSClientConfig() (*tls.Config, error) {
	if c.tlsConfig != nil {
		return c.tlsConfig.Clone(), nil
	}
	return c.TLS.ClientConfig()
}

// TLSVerified reports whether the pools verify the certificates of TLS
// servers: false with REDIS_TLS_INSECURE_SKIP_VERIFY=1. Whatever reports
// that a pool uses TLS must say so when it is false.
func (c Config) TLSVerified() bool { return !c.TLS.InsecureSkipVerify }

// buildTLSConfig is loadTLSFiles with its errors prefixed by the package.
func buildTLSConfig(t TLSConfig) (*tls.Config, []error) {
	cfg, errs := loadTLSFiles(t)
	for i, err := range errs {
		errs[i] = fmt.Errorf("pools: %w", err)
	}
	return cfg, errs
}

// loadTLSFiles loads the CA and client certificate files
// (internal/tlsfiles). Verification stays on unless InsecureSkipVerify.
func loadTLSFiles(t TLSConfig) (*tls.Config, []error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	errs := tlsfiles.Load(cfg, tlsfiles.Files{
		CA:   tlsfiles.File{Var: "REDIS_TLS_CA_FILE", Path: t.CAFile},
		Cert: tlsfiles.File{Var: "REDIS_TLS_CERT_FILE", Path: t.CertFile},
		Key:  tlsfiles.File{Var: "REDIS_TLS_KEY_FILE", Path: t.KeyFile},
	})
	return cfg, errs
}
