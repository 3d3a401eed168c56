package tlsinterop

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/tlsconf"
	"sockit/tlsconf/tlstest"
)

// ncat --ssl, verifying against the test CA, reads sockit's greeting over
// TLS.
func TestNcatSSLClientToSockit(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	p := newPKI(t)
	_, address := testutil.StartSockit(t, "serve", "tls://127.0.0.1:0", "--tls-cert", p.cert, "--tls-key", p.key)
	_, port, _ := net.SplitHostPort(address)
	out, errOut, code := testutil.Run(t, 20*time.Second, strings.NewReader(""), ncat, "-4", "--ssl", "--ssl-verify", "--ssl-trustfile", p.caFile, "localhost", port)
	if code != 0 || out != "Thank you for connecting\n" {
		t.Fatalf("ncat --ssl: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// sockit connect tls:// talks to "ncat --ssl -l" both ways.
func TestSockitClientToNcatSSLListener(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	p := newPKI(t)
	port := testutil.FreePortString(t)
	nc := testutil.StartPiped(t, exec.Command(ncat, "-v", "-l", "--ssl", "--ssl-cert", p.cert, "--ssl-key", p.key, "127.0.0.1", port))
	nc.Stderr.Wait(t, regexp.MustCompile(`Listening on 127\.0\.0\.1:`+port), 20*time.Second)

	c := testutil.StartPiped(t, exec.Command(testutil.SockitBinary(t), "connect", "tls://127.0.0.1:"+port, "--tls-trust", p.caFile))
	if _, err := nc.Stdin.Write([]byte("from ncat\n")); err != nil {
		t.Fatal(err)
	}
	c.Stdout.Wait(t, regexp.MustCompile(`^from ncat$`), 20*time.Second)
	if _, err := c.Stdin.Write([]byte("from sockit\n")); err != nil {
		t.Fatal(err)
	}
	nc.Stdout.Wait(t, regexp.MustCompile(`^from sockit$`), 20*time.Second)
	c.Stdin.Close()
	nc.Stdin.Close()
	if code := c.Exit(20 * time.Second); code != 0 {
		t.Fatalf("connect exit %d; %s", code, c.Describe())
	}
}

// SIGHUP reloads the listener's certificate: a new handshake sees the new
// certificate, a connection opened before keeps working.
func TestSIGHUPReload(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	p := newPKI(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "live.pem"), filepath.Join(dir, "live-key.pem")
	install := func(cn string) {
		l := tlstest.Localhost()
		l.CommonName = cn
		c, k := p.ca.Issue(t, l)
		// Write and rename, as a certificate manager does, so a reload
		// never reads a half-written file.
		tlstest.Write(t, dir, "new.pem", c)
		tlstest.Write(t, dir, "new-key.pem", k)
		if err := os.Rename(filepath.Join(dir, "new-key.pem"), keyFile); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "new.pem"), certFile); err != nil {
			t.Fatal(err)
		}
	}
	install("first")
	srv, address := testutil.StartSockit(t, "serve", "tls://127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--echo")

	ccfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: "localhost", TrustFiles: []string{p.caFile}})
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *tls.Conn {
		t.Helper()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tlsconf.Client(ctx, c, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		if dl, ok := ctx.Deadline(); ok {
			tc.SetDeadline(dl)
		}
		return tc
	}
	echo := func(c *tls.Conn, msg string) {
		t.Helper()
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, buf, err)
		}
	}
	cn := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].Subject.CommonName }

	old := dial()
	defer old.Close()
	echo(old, "before the reload")
	if cn(old) != "first" {
		t.Fatalf("first handshake saw %q", cn(old))
	}
	install("second")
	if err := srv.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`^SIGHUP: reloaded the certificate`), 20*time.Second)
	fresh := dial()
	defer fresh.Close()
	if cn(fresh) != "second" {
		t.Errorf("after SIGHUP a new handshake saw %q, want second", cn(fresh))
	}
	echo(old, "the old connection still works")
	echo(fresh, "and so does the new one")

	// A broken certificate file is reported and the old one kept.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Cmd.Process.Signal(syscall.SIGHUP)
	srv.Stderr.Wait(t, regexp.MustCompile(`^error: SIGHUP: keeping the old certificate`), 20*time.Second)
	third := dial()
	defer third.Close()
	if cn(third) != "second" {
		t.Errorf("after a failed reload the certificate is %q", cn(third))
	}
	echo(old, "still")
	old.Close()
	srv.Cmd.Process.Signal(syscall.SIGTERM)
	if code := srv.Exit(20 * time.Second); code != 0 {
		t.Fatalf("serve exit %d; %s", code, srv.Describe())
	}
}

// A relay that terminates TLS (its own certificate) and originates TLS to
// openssl s_server: curl https:// through it reaches s_server's page.
func TestRelayTLSToTLSWithCurl(t *testing.T) {
	curl := testutil.NeedCommand(t, "curl")
	p := newPKI(t)
	backend := sServerWWW(t, p.cert, p.key)
	_, address := testutil.StartSockit(t, "relay", "tls://127.0.0.1:0", "tls://"+backend,
		"--tls-cert", p.cert, "--tls-key", p.key, "--tls-trust", p.caFile, "--tls-server-name", "localhost")
	_, port, _ := net.SplitHostPort(address)
	out, errOut, code := testutil.Run(t, 20*time.Second, strings.NewReader(""), curl, "-sS", "--http1.0", "--cacert", p.caFile,
		"--resolve", "localhost:"+port+":127.0.0.1", "https://localhost:"+port+"/")
	if code != 0 || !strings.Contains(out, "s_server") {
		t.Fatalf("curl through the relay: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}

// Bad TLS options are one clear line and exit 2 (usage) or 1 (files).
func TestTLSOptionErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "127.0.0.1:0", "--tls-cert", "x.pem"}, 2, "need a tls:// address"},
		{[]string{"connect", "127.0.0.1:1", "--insecure"}, 2, "need a tls:// address"},
		{[]string{"serve", "tls://127.0.0.1:0", "--tls-cert", filepath.Join(dir, "missing.pem")}, 1, "missing.pem"},
		{[]string{"serve", "tls://127.0.0.1:0", "--tls-min-version", "1.1"}, 2, "bad TLS version"},
		{[]string{"connect", "tls://127.0.0.1:1", "--tls-trust", filepath.Join(dir, "missing.pem")}, 1, "missing.pem"},
	}
	for _, tt := range tests {
		_, errOut, code := testutil.RunSockit(t, "", tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("sockit %q: exit %d, stderr %q; want exit %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
		if strings.Contains(errOut, "panic") {
			t.Errorf("panic: %s", errOut)
		}
	}
}

// SIGHUP reloads --tls-client-ca too: a client whose CA was added to the
// file is admitted after the reload, one whose CA was removed is refused.
func TestSIGHUPReloadsClientCAs(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	p := newPKI(t)
	dir := t.TempDir()
	first, second := tlstest.NewCA(t, "first client CA"), tlstest.NewCA(t, "second client CA")
	pool := tlstest.Write(t, dir, "clients.pem", first.PEM)
	srv, address := testutil.StartSockit(t, "serve", "tls://127.0.0.1:0", "--tls-cert", p.cert, "--tls-key", p.key, "--tls-client-ca", pool, "--echo")

	client := func(issuer *tlstest.CA) *tls.Config {
		t.Helper()
		c, k := issuer.Issue(t, tlstest.Leaf{CommonName: "alice", Client: true})
		sub := t.TempDir()
		ccfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: "localhost", TrustFiles: []string{p.caFile},
			CertFile: tlstest.Write(t, sub, "c.pem", c), KeyFile: tlstest.Write(t, sub, "k.pem", k)})
		if err != nil {
			t.Fatal(err)
		}
		return ccfg
	}
	// admitted reports whether the server echoes a line over a handshake
	// with ccfg (TLS 1.3 reports a refused client certificate on the
	// first read).
	admitted := func(ccfg *tls.Config) bool {
		t.Helper()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc, err := tlsconf.Client(ctx, c, ccfg)
		if err != nil {
			return false
		}
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(tc, "hi\n"); err != nil {
			return false
		}
		buf := make([]byte, 3)
		_, err = io.ReadFull(tc, buf)
		return err == nil && string(buf) == "hi\n"
	}
	fromFirst, fromSecond := client(first), client(second)
	if !admitted(fromFirst) || admitted(fromSecond) {
		t.Fatalf("before the reload: want only the first CA's client admitted; %s", srv.Describe())
	}
	tlstest.Write(t, dir, "clients.pem", second.PEM)
	if err := srv.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`^SIGHUP: reloaded the client CAs`), 20*time.Second)
	if admitted(fromFirst) || !admitted(fromSecond) {
		t.Fatalf("after the reload: want only the second CA's client admitted; %s", srv.Describe())
	}
	srv.Cmd.Process.Signal(syscall.SIGTERM)
	if code := srv.Exit(20 * time.Second); code != 0 {
		t.Fatalf("serve exit %d; %s", code, srv.Describe())
	}
}
