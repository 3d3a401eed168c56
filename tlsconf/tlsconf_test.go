package tlsconf_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/server"
	"sockit/tlsconf"
	"sockit/tlsconf/tlstest"
)

// handshake runs a server with scfg and a client with ccfg over an
// in-memory pipe and returns the client's error.
func handshake(t *testing.T, scfg, ccfg *tls.Config) error {
	t.Helper()
	ctx := testutil.Context(t, 10*time.Second)
	c, s := tcpPair(t)
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.Close()
		tc := tls.Server(s, scfg)
		if tc.HandshakeContext(ctx) == nil {
			io.Copy(tc, tc) // echo one round so TLS 1.3 client-auth failures show
		}
	}()
	tc, err := tlsconf.Client(ctx, c, ccfg)
	if err == nil {
		_, err = tc.Write([]byte("x"))
		if err == nil {
			_, err = io.ReadFull(tc, make([]byte, 1))
		}
		tc.Close()
	}
	<-done
	return err
}

func serverConfig(t *testing.T, ca *tlstest.CA, leaf tlstest.Leaf, clientCA string) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := ca.Issue(t, leaf)
	r, err := tlsconf.NewReloader(tlstest.Write(t, dir, "c.pem", certPEM), tlstest.Write(t, dir, "k.pem", keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	var cas *tlsconf.CAPool
	if clientCA != "" {
		if cas, err = tlsconf.NewCAPool(clientCA); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{Certificates: r, ClientCAs: cas})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serverConfigPool is serverConfig with a client CA pool the caller holds.
func serverConfigPool(t *testing.T, ca *tlstest.CA, leaf tlstest.Leaf, cas *tlsconf.CAPool) *tls.Config {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, leaf)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{Certificates: tlsconf.Static{Cert: &cert}, ClientCAs: cas})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestVerifyErrorsSayWhy(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	other := tlstest.NewCA(t, "other CA")
	caFile := tlstest.Write(t, t.TempDir(), "ca.pem", ca.PEM)
	now := time.Now()
	tests := []struct {
		name   string
		issuer *tlstest.CA
		leaf   tlstest.Leaf
		server string
		reason tlsconf.Reason
		detail string
	}{
		{"good", ca, tlstest.Localhost(), "localhost", "", ""},
		{"good-ip", ca, tlstest.Localhost(), "127.0.0.1", "", ""},
		{"unknown-authority", other, tlstest.Localhost(), "localhost", tlsconf.UnknownAuthority, `issued by "CN=other CA"`},
		{"name-mismatch", ca, tlstest.Localhost(), "example.com", tlsconf.NameMismatch, "not example.com"},
		{"expired", ca, tlstest.Leaf{DNSNames: []string{"localhost"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}, "localhost", tlsconf.Expired, "expired at"},
		{"not-yet-valid", ca, tlstest.Leaf{DNSNames: []string{"localhost"}, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)}, "localhost", tlsconf.NotYetValid, "valid from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scfg := serverConfig(t, tt.issuer, tt.leaf, "")
			ccfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: tt.server, TrustFiles: []string{caFile}})
			if err != nil {
				t.Fatal(err)
			}
			err = handshake(t, scfg, ccfg)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				return
			}
			var ve *tlsconf.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a VerifyError", err, err)
			}
			if ve.Reason != tt.reason {
				t.Errorf("reason %q, want %q (%v)", ve.Reason, tt.reason, err)
			}
			if !strings.Contains(err.Error(), string(tt.reason)) || !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("message %q does not say %q and %q", err, tt.reason, tt.detail)
			}
		})
	}
}

func TestInsecureSkipsVerification(t *testing.T) {
	other := tlstest.NewCA(t, "other CA")
	scfg := serverConfig(t, other, tlstest.Localhost(), "")
	ccfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: "localhost", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, scfg, ccfg); err != nil {
		t.Fatalf("insecure handshake: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	clients := tlstest.NewCA(t, "client CA")
	dir := t.TempDir()
	caFile := tlstest.Write(t, dir, "ca.pem", ca.PEM)
	clientCA := tlstest.Write(t, dir, "client-ca.pem", clients.PEM)
	scfg := serverConfig(t, ca, tlstest.Localhost(), clientCA)

	good, goodKey := clients.Issue(t, tlstest.Leaf{CommonName: "alice", Client: true})
	bad, badKey := tlstest.NewCA(t, "rogue").Issue(t, tlstest.Leaf{CommonName: "mallory", Client: true})
	tests := []struct {
		name      string
		cert, key []byte
		ok        bool
	}{
		{"no-cert", nil, nil, false},
		{"untrusted-cert", bad, badKey, false},
		{"good-cert", good, goodKey, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tlsconf.ClientOptions{ServerName: "localhost", TrustFiles: []string{caFile}}
			if tt.cert != nil {
				o.CertFile = tlstest.Write(t, t.TempDir(), "c.pem", tt.cert)
				o.KeyFile = tlstest.Write(t, t.TempDir(), "k.pem", tt.key)
			}
			ccfg, err := tlsconf.ClientConfig(o)
			if err != nil {
				t.Fatal(err)
			}
			err = handshake(t, scfg, ccfg)
			if tt.ok != (err == nil) {
				t.Fatalf("handshake error %v, want success %v", err, tt.ok)
			}
		})
	}
}

// TestCAPoolReload: a client CA file reloaded applies to the next
// handshake; a failed reload keeps the pool in use.
func TestCAPoolReload(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	first, second := tlstest.NewCA(t, "first client CA"), tlstest.NewCA(t, "second client CA")
	dir := t.TempDir()
	caFile := tlstest.Write(t, dir, "ca.pem", ca.PEM)
	poolFile := tlstest.Write(t, dir, "clients.pem", first.PEM)
	cas, err := tlsconf.NewCAPool(poolFile)
	if err != nil {
		t.Fatal(err)
	}
	scfg := serverConfigPool(t, ca, tlstest.Localhost(), cas)
	client := func(issuer *tlstest.CA) *tls.Config {
		t.Helper()
		c, k := issuer.Issue(t, tlstest.Leaf{CommonName: "alice", Client: true})
		sub := t.TempDir()
		ccfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: "localhost", TrustFiles: []string{caFile},
			CertFile: tlstest.Write(t, sub, "c.pem", c), KeyFile: tlstest.Write(t, sub, "k.pem", k)})
		if err != nil {
			t.Fatal(err)
		}
		return ccfg
	}
	fromFirst, fromSecond := client(first), client(second)
	check := func(when string, ccfg *tls.Config, ok bool) {
		t.Helper()
		if err := handshake(t, scfg, ccfg); ok != (err == nil) {
			t.Fatalf("%s: handshake error %v, want success %v", when, err, ok)
		}
	}
	check("before the reload, first CA", fromFirst, true)
	check("before the reload, second CA", fromSecond, false)

	tlstest.Write(t, dir, "clients.pem", second.PEM)
	if err := cas.Reload(); err != nil {
		t.Fatal(err)
	}
	check("after the reload, first CA", fromFirst, false)
	check("after the reload, second CA", fromSecond, true)

	tlstest.Write(t, dir, "clients.pem", []byte("not a certificate"))
	if err := cas.Reload(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	check("after a failed reload, second CA", fromSecond, true)
}

func TestSelfSigned(t *testing.T) {
	cert, err := tlsconf.SelfSigned("example.test", "192.0.2.1", "::")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A client that trusts the certificate itself verifies it for every
	// name it was made for.
	caFile := tlstest.Write(t, dir, "self.pem", pemCert(cert.Certificate[0]))
	scfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{Certificates: tlsconf.Static{Cert: cert}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "example.test", "192.0.2.1"} {
		ccfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: name, TrustFiles: []string{caFile}})
		if err != nil {
			t.Fatal(err)
		}
		if err := handshake(t, scfg, ccfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	sum := sha256.Sum256(cert.Certificate[0])
	fp := tlsconf.Fingerprint(cert.Certificate[0])
	if got := strings.ToLower(strings.ReplaceAll(fp, ":", "")); got != hex.EncodeToString(sum[:]) || len(fp) != 95 {
		t.Errorf("fingerprint %q is not the colon-separated SHA-256 %x", fp, sum)
	}
}

// SIGHUP's reload: new handshakes get the new certificate while an
// established connection keeps working.
func TestReloaderSwapsWithoutDropping(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	issue := func(cn string) {
		l := tlstest.Localhost()
		l.CommonName = cn
		c, k := ca.Issue(t, l)
		tlstest.Write(t, dir, "c.pem", c)
		tlstest.Write(t, dir, "k.pem", k)
	}
	issue("first")
	r, err := tlsconf.NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{Certificates: r})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Handler: server.Chain(server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		_, err := io.Copy(c, c)
		return err
	}), tlsconf.Handshake(scfg, 0, slog.New(slog.DiscardHandler)))}
	go srv.Serve(ln)
	defer srv.Close()

	ccfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: "localhost", TrustFiles: []string{tlstest.Write(t, dir, "ca.pem", ca.PEM)}})
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *tls.Conn {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tlsconf.Client(ctx, c, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	echo := func(c *tls.Conn, msg string) {
		t.Helper()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, buf, err)
		}
	}
	cn := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].Subject.CommonName }

	old := dial()
	defer old.Close()
	echo(old, "before")
	if cn(old) != "first" {
		t.Fatalf("first certificate is %q", cn(old))
	}
	issue("second")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh := dial()
	defer fresh.Close()
	if cn(fresh) != "second" {
		t.Errorf("after reload a new handshake saw %q, want second", cn(fresh))
	}
	echo(old, "after reload, same connection")
	echo(fresh, "new connection")

	// A broken file leaves the current certificate in place.
	tlstest.Write(t, dir, "c.pem", []byte("garbage"))
	if err := r.Reload(); err == nil {
		t.Fatal("reload of a garbage certificate succeeded")
	}
	if got := r.Certificate().Leaf; got != nil && got.Subject.CommonName != "second" {
		t.Errorf("failed reload replaced the certificate with %q", got.Subject.CommonName)
	}
	third := dial()
	defer third.Close()
	if cn(third) != "second" {
		t.Errorf("after a failed reload the certificate is %q, want second", cn(third))
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := tlstest.Write(t, dir, "not.pem", []byte("hello"))
	tests := []struct {
		name string
		o    tlsconf.ClientOptions
		want string
	}{
		{"missing-trust", tlsconf.ClientOptions{TrustFiles: []string{filepath.Join(dir, "nope.pem")}}, "no such file"},
		{"trust-not-pem", tlsconf.ClientOptions{TrustFiles: []string{notPEM}}, "no PEM certificate"},
		{"key-without-cert", tlsconf.ClientOptions{KeyFile: notPEM}, "a key without a certificate"},
		{"bad-pair", tlsconf.ClientOptions{CertFile: notPEM, KeyFile: notPEM}, "not.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tlsconf.ClientConfig(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := tlsconf.ServerConfig(tlsconf.ServerOptions{}); err == nil {
		t.Error("server config without certificates succeeded")
	}
	if _, err := tlsconf.NewReloader(filepath.Join(dir, "nope.pem"), ""); err == nil {
		t.Error("reloader of a missing file succeeded")
	}
	if _, err := tlsconf.NewCAPool(notPEM); err == nil || !strings.Contains(err.Error(), "client CA") {
		t.Errorf("CA pool of a file with no certificate: %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
		ok   bool
	}{
		{"1.2", tls.VersionTLS12, true},
		{"1.3", tls.VersionTLS13, true},
		{"TLS1.3", tls.VersionTLS13, true},
		{"tlsv1.2", tls.VersionTLS12, true},
		{"1.1", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := tlsconf.ParseVersion(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// tcpPair returns the two ends of a loopback TCP connection (buffered, unlike
// net.Pipe, so a failing handshake's alert does not deadlock).
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}

// A client that connects and never speaks is dropped after the handshake
// timeout, with the protocol-error reason; the handler never runs.
func TestHandshakeTimeout(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	cert, err := tlsconf.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{Certificates: tlsconf.Static{Cert: cert}})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, 1)
	h := tlsconf.Handshake(scfg, 200*time.Millisecond, nil)(server.HandlerFunc(func(context.Context, net.Conn) error {
		served <- struct{}{}
		return nil
	}))
	c, s := tcpPair(t)
	defer c.Close()
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- h.ServeConn(ctx, s) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		t.Fatal("the handshake of a silent client did not time out")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed out after %v, want about 200ms", d)
	}
	if server.ReasonOf(err) != server.ReasonProtocol || !strings.Contains(err.Error(), "tls handshake") {
		t.Errorf("error %v, reason %q", err, server.ReasonOf(err))
	}
	select {
	case <-served:
		t.Error("the handler ran without a handshake")
	default:
	}
}
