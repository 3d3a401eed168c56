package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"sockit/server"
)

// Reason names why a certificate was not accepted.
type Reason string

// The reasons a verification fails.
const (
	UnknownAuthority Reason = "unknown authority"
	NameMismatch     Reason = "name mismatch"
	Expired          Reason = "expired"
	NotYetValid      Reason = "not yet valid"
	OtherReason      Reason = "invalid certificate"
)

// VerifyError is a failed verification of the peer's certificate, with the
// reason in words.
type VerifyError struct {
	// Reason classifies the failure.
	Reason Reason
	// Detail says what exactly did not match, in words.
	Detail string
	// Err is crypto/tls's or crypto/x509's error.
	Err error
}

// Error returns "certificate verification failed: REASON: DETAIL".
func (e *VerifyError) Error() string {
	return "certificate verification failed: " + string(e.Reason) + ": " + e.Detail
}

// Unwrap returns the underlying error.
func (e *VerifyError) Unwrap() error { return e.Err }

// Explain turns a handshake error caused by a certificate that did not verify
// into a *VerifyError; other errors are returned as they are.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var (
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &ua):
		d := "the certificate is not signed by a trusted root"
		if c := ua.Cert; c != nil {
			d = fmt.Sprintf("certificate %q issued by %q is not signed by a trusted root", c.Subject.String(), c.Issuer.String())
			if c.Subject.String() == c.Issuer.String() {
				d += " (it is self-signed)"
			}
		}
		return &VerifyError{Reason: UnknownAuthority, Detail: d, Err: err}
	case errors.As(err, &hn):
		return &VerifyError{Reason: NameMismatch, Detail: mismatch(hn), Err: err}
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		now := time.Now()
		if c := ci.Cert; c != nil && now.Before(c.NotBefore) {
			return &VerifyError{Reason: NotYetValid, Detail: fmt.Sprintf("certificate is valid from %s, it is now %s", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), Err: err}
		}
		d := "certificate has expired"
		if c := ci.Cert; c != nil {
			d = fmt.Sprintf("certificate expired at %s, it is now %s", c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		return &VerifyError{Reason: Expired, Detail: d, Err: err}
	case errors.As(err, &ci):
		return &VerifyError{Reason: OtherReason, Detail: strings.TrimPrefix(ci.Error(), "x509: "), Err: err}
	case errors.As(err, &cve):
		return &VerifyError{Reason: OtherReason, Detail: cve.Err.Error(), Err: err}
	}
	return err
}

// Client runs a client handshake over conn with cfg, bounded by ctx. On
// failure it closes conn and returns an error that says why (see Explain).
func Client(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tls handshake: %w", Explain(err))
	}
	return tc, nil
}

// DefaultHandshakeTimeout bounds a server handshake when Handshake is given
// no timeout.
const DefaultHandshakeTimeout = 10 * time.Second

// Handshake returns server middleware that runs a TLS server handshake with
// cfg on each connection, within timeout (zero: DefaultHandshakeTimeout),
// and serves the decrypted connection. A failed handshake ends the connection
// with server.ReasonProtocol. It belongs after middleware that reads raw bytes
// first (PROXY protocol) and after access rules, so refused clients cost no
// handshake.
func Handshake(cfg *tls.Config, timeout time.Duration, logger *slog.Logger) server.Middleware {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next server.Handler) server.Handler {
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			tc := tls.Server(conn, cfg)
			hctx, cancel := context.WithTimeout(ctx, timeout)
			err := tc.HandshakeContext(hctx)
			cancel()
			if err != nil {
				return server.WithReason(server.ReasonProtocol, fmt.Errorf("tls handshake: %w", Explain(err)))
			}
			defer tc.Close()
			if logger.Enabled(ctx, slog.LevelDebug) {
				st := tc.ConnectionState()
				attrs := []any{"remote", conn.RemoteAddr().String(), "version", tls.VersionName(st.Version),
					"cipher", tls.CipherSuiteName(st.CipherSuite), "sni", st.ServerName, "alpn", st.NegotiatedProtocol}
				if len(st.PeerCertificates) > 0 {
					attrs = append(attrs, "client", st.PeerCertificates[0].Subject.String())
				}
				logger.Debug("tls handshake", attrs...)
			}
			return next.ServeConn(ctx, tc)
		})
	}
}

// mismatch says which names a certificate is valid for and which one was
// asked for.
func mismatch(hn x509.HostnameError) string {
	c := hn.Certificate
	if c == nil {
		return strings.TrimPrefix(hn.Error(), "x509: ")
	}
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, "(common name only) "+c.Subject.CommonName)
	}
	if len(names) == 0 {
		return fmt.Sprintf("certificate names no host, not %s", hn.Host)
	}
	return fmt.Sprintf("certificate is valid for %s, not %s", strings.Join(names, ", "), hn.Host)
}
