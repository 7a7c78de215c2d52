package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// File is one file setting: the variable (or option) that names it and the
// path it holds ("" when unset).
type File struct {
	Var  string
	Path string
}

// Files are the TLS files of one client.
type Files struct {
	CA   File // PEM CA bundle; unset: the system roots
	Cert File // client certificate; set with Key or not at all
	Key  File
}

// Error is what is wrong with one file. Var and Path are what the user
// typed; Problem never holds a file's contents.
type Error struct {
	Var, Path, Problem string
}

func (e *Error) Error() string { return fmt.Sprintf("%s=%q: %s", e.Var, e.Path, e.Problem) }

// Load reads the files into cfg (RootCAs, Certificates) and returns every
// problem, each an *Error.
func Load(cfg *tls.Config, f Files) []error {
	var errs []error
	if err := loadCA(cfg, f.CA); err != nil {
		errs = append(errs, err)
	}
	if err := loadPair(cfg, f.Cert, f.Key); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func loadCA(cfg *tls.Config, ca File) error {
	if ca.Path == "" {
		return nil
	}
	pem, err := os.ReadFile(ca.Path)
	if err != nil {
		return &Error{ca.Var, ca.Path, "cannot read the CA certificate: " + pathError(err).Error()}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return &Error{ca.Var, ca.Path, "no PEM certificate in the file"}
	}
	cfg.RootCAs = pool
	return nil
}

func loadPair(cfg *tls.Config, cert, key File) error {
	switch {
	case cert.Path == "" && key.Path == "":
		return nil
	case key.Path == "":
		return &Error{cert.Var, cert.Path, "set without " + key.Var}
	case cert.Path == "":
		return &Error{key.Var, key.Path, "set without " + cert.Var}
	}
	pair, err := tls.LoadX509KeyPair(cert.Path, key.Path)
	if err != nil {
		return &Error{cert.Var, cert.Path, fmt.Sprintf("cannot load the client certificate with %s=%q: %v", key.Var, key.Path, pathError(err))}
	}
	cfg.Certificates = []tls.Certificate{pair}
	return nil
}

// pathError drops the path from an *os.PathError: the message already
// quotes the variable's value.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
