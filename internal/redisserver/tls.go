package redisserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSFiles are PEM files generated for one server: a CA, a server
// certificate for 127.0.0.1 and localhost signed by it, a client
// certificate signed by it, and an unrelated CA for "wrong CA" tests.
type TLSFiles struct {
	CAFile, ServerCertFile, ServerKeyFile string
	ClientCertFile, ClientKeyFile         string
	// OtherCAFile is a CA that signed nothing the server presents.
	OtherCAFile string

	caPool *x509.CertPool
}

// ClientConfig trusts the generated CA and checks the name 127.0.0.1.
func (f *TLSFiles) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: f.caPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// GenerateTLS writes a fresh CA, server and client certificates into dir.
func GenerateTLS(dir string) (*TLSFiles, error) {
	ca, err := newCert("poolscope test CA", nil, true)
	if err != nil {
		return nil, err
	}
	other, err := newCert("poolscope unrelated CA", nil, true)
	if err != nil {
		return nil, err
	}
	server, err := newCert("redis-server", &ca, false)
	if err != nil {
		return nil, err
	}
	client, err := newCert("poolscope client", &ca, false)
	if err != nil {
		return nil, err
	}
	f := &TLSFiles{
		CAFile:         filepath.Join(dir, "ca.crt"),
		OtherCAFile:    filepath.Join(dir, "other-ca.crt"),
		ServerCertFile: filepath.Join(dir, "server.crt"),
		ServerKeyFile:  filepath.Join(dir, "server.key"),
		ClientCertFile: filepath.Join(dir, "client.crt"),
		ClientKeyFile:  filepath.Join(dir, "client.key"),
		caPool:         x509.NewCertPool(),
	}
	f.caPool.AddCert(ca.cert)
	for _, w := range []struct {
		path string
		kp   keyPair
		key  bool
	}{
		{f.CAFile, ca, false}, {f.OtherCAFile, other, false},
		{f.ServerCertFile, server, false}, {f.ServerKeyFile, server, true},
		{f.ClientCertFile, client, false}, {f.ClientKeyFile, client, true},
	} {
		if err := writePEM(w.path, w.kp, w.key); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func newCert(cn string, parent *keyPair, isCA bool) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("redisserver: tls key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return keyPair{}, fmt.Errorf("redisserver: tls serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	signer, signerKey := tmpl, key
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return keyPair{}, fmt.Errorf("redisserver: tls certificate %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{cert: cert, key: key}, nil
}

func writePEM(path string, kp keyPair, key bool) error {
	var block *pem.Block
	if key {
		der, err := x509.MarshalECPrivateKey(kp.key)
		if err != nil {
			return err
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	} else {
		block = &pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw}
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("redisserver: write %s: %w", path, err)
	}
	return nil
}
