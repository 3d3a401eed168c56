package tlsinterop

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/tlsconf/tlstest"
)

// pki is a test CA, a server certificate for localhost and a client CA with
// one client certificate, all written to files.
type pki struct {
	ca                    *tlstest.CA
	dir                   string
	caFile                string
	cert, key             string
	clientCA              string
	clientCert, clientKey string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{ca: tlstest.NewCA(t, "sockit test CA"), dir: t.TempDir()}
	p.caFile = tlstest.Write(t, p.dir, "ca.pem", p.ca.PEM)
	c, k := p.ca.Issue(t, tlstest.Localhost())
	p.cert, p.key = tlstest.Write(t, p.dir, "cert.pem", c), tlstest.Write(t, p.dir, "key.pem", k)
	clients := tlstest.NewCA(t, "sockit client CA")
	p.clientCA = tlstest.Write(t, p.dir, "client-ca.pem", clients.PEM)
	c, k = clients.Issue(t, tlstest.Leaf{CommonName: "alice", Client: true})
	p.clientCert, p.clientKey = tlstest.Write(t, p.dir, "client.pem", c), tlstest.Write(t, p.dir, "client-key.pem", k)
	return p
}

// issue writes a server certificate for leaf signed by the test CA.
func (p *pki) issue(t *testing.T, name string, leaf tlstest.Leaf) (cert, key string) {
	t.Helper()
	c, k := p.ca.Issue(t, leaf)
	return tlstest.Write(t, p.dir, name+".pem", c), tlstest.Write(t, p.dir, name+"-key.pem", k)
}

// sServerWWW starts "openssl s_server -www" (it answers GET / with a status
// page) with cert and key, plus extra options, and returns its address.
func sServerWWW(t *testing.T, cert, key string, extra ...string) string {
	t.Helper()
	openssl := testutil.NeedCommand(t, "openssl")
	port := testutil.FreePortString(t)
	args := append([]string{"s_server", "-accept", "127.0.0.1:" + port, "-cert", cert, "-key", key, "-www"}, extra...)
	testutil.StartPiped(t, exec.Command(openssl, args...))
	address := net.JoinHostPort("127.0.0.1", port)
	testutil.WaitDial(t, "tcp", address, 20*time.Second)
	return address
}

const getRequest = "GET / HTTP/1.0\r\n\r\n"

var wwwOK = regexp.MustCompile(`HTTP/1\.0 200 ok`)

// openssl s_client talks to sockit serve tls:// both ways: what it sends
// reaches the service, what the service says reaches it, verified against
// the test CA.
func TestOpenSSLClientToSockitServer(t *testing.T) {
	openssl := testutil.NeedCommand(t, "openssl")
	p := newPKI(t)
	srv, address := testutil.StartSockit(t, "serve", "tls://127.0.0.1:0", "--tls-cert", p.cert, "--tls-key", p.key,
		"--sh-exec", `read line; echo "got $line over $SOCKIT_PROTO"`)
	out, errOut, code := testutil.Run(t, 20*time.Second, strings.NewReader("hello\n"), openssl, "s_client", "-connect", address,
		"-CAfile", p.caFile, "-verify_return_error", "-servername", "localhost", "-quiet")
	if !strings.Contains(out, "got hello over tcp") {
		t.Fatalf("s_client got %q (exit %d, stderr %q); sockit %s", out, code, errOut, srv.Describe())
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`^exec exited .*status="exit 0"`), 10*time.Second)
}

// sockit connect tls:// talks to openssl s_server both ways.
func TestSockitClientToOpenSSLServer(t *testing.T) {
	openssl := testutil.NeedCommand(t, "openssl")
	p := newPKI(t)
	port := testutil.FreePortString(t)
	ss := testutil.StartPiped(t, exec.Command(openssl, "s_server", "-accept", "127.0.0.1:"+port, "-cert", p.cert, "-key", p.key, "-quiet"))
	testutil.WaitDial(t, "tcp", "127.0.0.1:"+port, 20*time.Second)

	c := testutil.StartPiped(t, exec.Command(testutil.SockitBinary(t), "connect", "tls://localhost:"+port, "--tls-trust", p.caFile))
	if _, err := ss.Stdin.Write([]byte("from openssl\n")); err != nil {
		t.Fatal(err)
	}
	c.Stdout.Wait(t, regexp.MustCompile(`^from openssl$`), 20*time.Second)
	if _, err := c.Stdin.Write([]byte("from sockit\n")); err != nil {
		t.Fatal(err)
	}
	ss.Stdout.Wait(t, regexp.MustCompile(`^from sockit$`), 20*time.Second)
	c.Stdin.Close()  // close_notify to s_server
	ss.Stdin.Close() // s_server ends
	if code := c.Exit(20 * time.Second); code != 0 {
		t.Fatalf("connect exit %d; %s", code, c.Describe())
	}
}

// Mutual TLS with sockit as the server: s_client with a certificate the
// client CA signed gets in (and the exec'd child sees who it is), s_client
// without one does not.
func TestMutualTLSSockitServer(t *testing.T) {
	openssl := testutil.NeedCommand(t, "openssl")
	p := newPKI(t)
	srv, address := testutil.StartSockit(t, "serve", "tls://127.0.0.1:0", "--tls-cert", p.cert, "--tls-key", p.key,
		"--tls-client-ca", p.clientCA, "--sh-exec", `echo "welcome $SOCKIT_TLS_CLIENT_CN ($SOCKIT_TLS_VERSION)"`)
	out, errOut, _ := testutil.Run(t, 20*time.Second, strings.NewReader(""), openssl, "s_client", "-connect", address, "-CAfile", p.caFile,
		"-verify_return_error", "-cert", p.clientCert, "-key", p.clientKey, "-quiet")
	if !strings.Contains(out, "welcome alice (TLS 1.3)") {
		t.Fatalf("s_client with a client certificate got %q; stderr %q", out, errOut)
	}
	out, errOut, _ = testutil.Run(t, 20*time.Second, strings.NewReader(""), openssl, "s_client", "-connect", address, "-CAfile", p.caFile, "-quiet")
	if strings.Contains(out, "welcome") {
		t.Fatalf("s_client without a client certificate was served: %q", out)
	}
	if !strings.Contains(errOut, "certificate required") && !strings.Contains(errOut, "handshake failure") {
		t.Logf("s_client's stderr: %s", errOut)
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`connection closed .*reason=protocol-error .*tls handshake: .*certificate`), 10*time.Second)
}

// Mutual TLS with sockit as the client: openssl s_server -Verify demands a
// certificate; sockit connect --tls-cert presents one.
func TestMutualTLSSockitClient(t *testing.T) {
	p := newPKI(t)
	address := sServerWWW(t, p.cert, p.key, "-Verify", "1", "-CAfile", p.clientCA, "-verify_return_error")
	_, port, _ := net.SplitHostPort(address)
	out, errOut, code := testutil.RunSockit(t, getRequest, "connect", "tls://localhost:"+port, "--tls-trust", p.caFile,
		"--tls-cert", p.clientCert, "--tls-key", p.clientKey)
	if code != 0 || !wwwOK.MatchString(out) || !strings.Contains(out, "CN=alice") && !strings.Contains(out, "CN = alice") {
		t.Fatalf("with a client certificate: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	out, errOut, code = testutil.RunSockit(t, getRequest, "connect", "tls://localhost:"+port, "--tls-trust", p.caFile)
	if code != 1 || wwwOK.MatchString(out) {
		t.Fatalf("without a client certificate: exit %d, stdout %q", code, out)
	}
	testutil.OneLine(t, errOut, "sockit: ")
}

// A server with an untrusted self-signed certificate: sockit refuses, says
// why in one line and exits 1; with --tls-trust the same server is accepted;
// --insecure connects with a warning.
func TestUntrustedSelfSignedServer(t *testing.T) {
	openssl := testutil.NeedCommand(t, "openssl")
	dir := t.TempDir()
	cert, key := dir+"/self.pem", dir+"/self-key.pem"
	if out, _, code := testutil.Run(t, 30*time.Second, strings.NewReader(""), openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
		"-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"); code != 0 {
		t.Fatalf("openssl req: %s", out)
	}
	address := sServerWWW(t, cert, key)

	out, errOut, code := testutil.RunSockit(t, getRequest, "connect", "tls://"+address)
	if code != 1 || out != "" {
		t.Fatalf("untrusted: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	testutil.OneLine(t, errOut, "connect tls://"+address, "certificate verification failed: unknown authority", "self-signed", "--tls-trust")

	out, errOut, code = testutil.RunSockit(t, getRequest, "connect", "tls://"+address, "--tls-trust", cert)
	if code != 0 || !wwwOK.MatchString(out) {
		t.Fatalf("--tls-trust: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	out, errOut, code = testutil.RunSockit(t, getRequest, "connect", "tls://"+address, "--insecure")
	if code != 0 || !wwwOK.MatchString(out) || !strings.Contains(errOut, "warning: --insecure") {
		t.Fatalf("--insecure: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}

// Expired certificates and certificates for another name are refused with a
// message that says so; --tls-server-name verifies (and sends as SNI) the
// name the certificate has.
func TestVerificationFailuresSayWhy(t *testing.T) {
	p := newPKI(t)
	now := time.Now()
	expCert, expKey := p.issue(t, "expired", tlstest.Leaf{CommonName: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	otherCert, otherKey := p.issue(t, "other", tlstest.Leaf{CommonName: "service.test", DNSNames: []string{"service.test"}})

	expired := sServerWWW(t, expCert, expKey)
	_, errOut, code := testutil.RunSockit(t, getRequest, "connect", "tls://"+expired, "--tls-trust", p.caFile)
	if code != 1 {
		t.Fatalf("expired: exit %d", code)
	}
	testutil.OneLine(t, errOut, "certificate verification failed: expired", "certificate expired at")

	other := sServerWWW(t, otherCert, otherKey)
	_, errOut, code = testutil.RunSockit(t, getRequest, "connect", "tls://"+other, "--tls-trust", p.caFile)
	if code != 1 {
		t.Fatalf("name mismatch: exit %d", code)
	}
	testutil.OneLine(t, errOut, "certificate verification failed: name mismatch", "valid for service.test, not 127.0.0.1")

	out, errOut, code := testutil.RunSockit(t, getRequest, "connect", "tls://"+other, "--tls-trust", p.caFile, "--tls-server-name", "service.test")
	if code != 0 || !wwwOK.MatchString(out) {
		t.Fatalf("--tls-server-name: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}

// The self-signed certificate sockit makes when given no --tls-cert has the
// fingerprint it prints, as openssl computes it.
func TestSelfSignedFingerprint(t *testing.T) {
	openssl := testutil.NeedCommand(t, "openssl")
	srv, address := testutil.StartSockit(t, "serve", "tls://127.0.0.1:0")
	fp := srv.Stderr.Wait(t, regexp.MustCompile(`^SHA-256 fingerprint: ([0-9A-F:]{95})$`), 10*time.Second)[1]
	pemOut, errOut, _ := testutil.Run(t, 20*time.Second, strings.NewReader(""), openssl, "s_client", "-connect", address, "-showcerts")
	if !strings.Contains(pemOut, "BEGIN CERTIFICATE") {
		t.Fatalf("s_client showed no certificate; stderr %q", errOut)
	}
	out, errOut, code := testutil.Run(t, 20*time.Second, strings.NewReader(pemOut), openssl, "x509", "-noout", "-fingerprint", "-sha256")
	if code != 0 || !strings.Contains(strings.ToUpper(out), "FINGERPRINT="+fp) {
		t.Fatalf("openssl says %q (stderr %q), sockit printed %s", out, errOut, fp)
	}
}

// ALPN: sockit's listener offers --tls-alpn; openssl s_client asks for one.
func TestALPN(t *testing.T) {
	openssl := testutil.NeedCommand(t, "openssl")
	p := newPKI(t)
	_, address := testutil.StartSockit(t, "serve", "tls://127.0.0.1:0", "--tls-cert", p.cert, "--tls-key", p.key, "--tls-alpn", "h2,http/1.1")
	out, errOut, _ := testutil.Run(t, 20*time.Second, strings.NewReader(""), openssl, "s_client", "-connect", address, "-CAfile", p.caFile, "-alpn", "http/1.1")
	if !strings.Contains(out, "ALPN protocol: http/1.1") {
		t.Fatalf("no ALPN agreed; stdout:\n%s\nstderr %q", out, errOut)
	}

	// And the other way: sockit connect offers, s_server chooses.
	backend := sServerWWW(t, p.cert, p.key, "-alpn", "sockit-test")
	_, port, _ := net.SplitHostPort(backend)
	out, errOut, code := testutil.RunSockit(t, getRequest, "--debug", "connect", "tls://localhost:"+port, "--tls-trust", p.caFile, "--tls-alpn", "other,sockit-test")
	if code != 0 || !wwwOK.MatchString(out) || !strings.Contains(errOut, "alpn=sockit-test") {
		t.Fatalf("connect --tls-alpn: exit %d, stderr %q", code, errOut)
	}
}
