// Package tlsconf builds the crypto/tls configurations sockit's TLS endpoints
// use: server certificates (loaded from files, reloadable on SIGHUP, or a
// self-signed ECDSA certificate generated at start), client verification
// against the system roots plus extra trusted roots, mutual TLS, SNI and ALPN.
//
// Everything here is configuration around crypto/tls; the protocol itself is
// the standard library's. Verification failures are turned into a VerifyError
// that says why (unknown authority, name mismatch, expired).
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// DefaultMinVersion is the lowest protocol version sockit accepts unless told
// otherwise.
const DefaultMinVersion = tls.VersionTLS12

// ServerOptions configure a TLS server. Certificates is required.
type ServerOptions struct {
	// Certificates supplies the server's certificate for each handshake
	// (a *Reloader or a Static certificate).
	Certificates CertificateSource
	// ClientCAs, when set, turns on mutual TLS: clients must present a
	// certificate signed by one of its certificates. Each handshake uses
	// the pool as last loaded, so CAPool.Reload applies to new clients.
	ClientCAs *CAPool
	// ALPN lists the application protocols offered, most preferred first.
	ALPN []string
	// MinVersion is the lowest version accepted; zero means
	// DefaultMinVersion.
	MinVersion uint16
}

// CertificateSource supplies a server certificate per handshake; it has the
// shape of tls.Config.GetCertificate.
type CertificateSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Static is a CertificateSource that always returns the same certificate.
type Static struct{ Cert *tls.Certificate }

// GetCertificate returns s.Cert.
func (s Static) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.Cert, nil }

// ServerConfig returns the tls.Config for a server with o's options.
func ServerConfig(o ServerOptions) (*tls.Config, error) {
	if o.Certificates == nil {
		return nil, errors.New("tls: no server certificate")
	}
	cfg := &tls.Config{
		GetCertificate: o.Certificates.GetCertificate,
		NextProtos:     o.ALPN,
		MinVersion:     minVersion(o.MinVersion),
	}
	if o.ClientCAs != nil {
		cfg.ClientCAs = o.ClientCAs.Pool()
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		// Handshakes use a config made for the pool in use, made again
		// only after the pool was reloaded.
		base := cfg.Clone()
		var cur atomic.Pointer[tls.Config]
		cur.Store(base)
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool := o.ClientCAs.Pool()
			if c := cur.Load(); c.ClientCAs == pool {
				return c, nil
			}
			c := base.Clone()
			c.ClientCAs = pool
			cur.Store(c)
			return c, nil
		}
	}
	return cfg, nil
}

// ClientOptions configure a TLS client. The zero value verifies the server
// against the system roots and the name dialed.
type ClientOptions struct {
	// ServerName is sent as SNI and verified against the certificate; empty
	// means the host part of the address dialed.
	ServerName string
	// TrustFiles name PEM files of extra roots trusted besides the system's.
	TrustFiles []string
	// Insecure skips verification of the server's certificate.
	Insecure bool
	// CertFile and KeyFile are the client's own certificate for mutual TLS.
	CertFile, KeyFile string
	// ALPN lists the application protocols offered, most preferred first.
	ALPN []string
	// MinVersion is the lowest version accepted; zero means
	// DefaultMinVersion.
	MinVersion uint16
}

// ClientConfig returns the tls.Config for a client with o's options.
func ClientConfig(o ClientOptions) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.Insecure,
		NextProtos:         o.ALPN,
		MinVersion:         minVersion(o.MinVersion),
	}
	if len(o.TrustFiles) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		for _, f := range o.TrustFiles {
			if err := appendPEM(pool, f); err != nil {
				return nil, fmt.Errorf("trust: %w", err)
			}
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := LoadKeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

// ParseVersion parses "1.2" or "1.3" (optionally prefixed "TLS" or "tls").
func ParseVersion(s string) (uint16, error) {
	v := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(s), "tls"), "v")
	switch v {
	case "1.2", "12":
		return tls.VersionTLS12, nil
	case "1.3", "13":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("bad TLS version %q (want 1.2 or 1.3)", s)
}

func minVersion(v uint16) uint16 {
	if v == 0 {
		return DefaultMinVersion
	}
	return v
}

// LoadKeyPair loads a PEM certificate chain and its private key, with errors
// that name the files.
func LoadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	switch {
	case certFile == "":
		return nil, errors.New("a key without a certificate: give the certificate file too")
	case keyFile == "":
		keyFile = certFile // one PEM file holding both, as ncat and socat allow
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if err := appendPEM(pool, file); err != nil {
		return nil, err
	}
	return pool, nil
}

func appendPEM(pool *x509.CertPool, file string) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificate found", file)
	}
	return nil
}
