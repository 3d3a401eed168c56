package access

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"sockit/internal/testutil"
)

const greeting = "Thank you for connecting\n"

// dialFrom connects to address from the loopback address src.
func dialFrom(t *testing.T, src, address string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", address, src, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// greetFrom connects from src, returns what the server sent and the local
// port used.
func greetFrom(t *testing.T, src, address string) (string, int) {
	t.Helper()
	c := dialFrom(t, src, address)
	b, _ := io.ReadAll(c)
	return string(b), c.LocalAddr().(*net.TCPAddr).Port
}

// HAProxy with send-proxy-v2 in front of sockit serve --proxy-protocol: the
// connection log names the original client (address and port), and --deny
// applies to it; garbage, missing and stalled headers sent straight to
// sockit are refused and logged.
func TestHAProxySendProxyV2(t *testing.T) {
	haproxy := testutil.NeedCommand(t, "haproxy")
	plain, plainAddr := serve(t, "127.0.0.1:0", "--proxy-protocol", "--header-timeout", "500ms")
	guarded, guardedAddr := serve(t, "127.0.0.1:0", "--proxy-protocol", "--deny", "127.0.0.2")
	fe1, fe2 := testutil.FreePortString(t), testutil.FreePortString(t)
	cfg := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend plain
    bind 127.0.0.1:%s
    default_backend plain
backend plain
    server s1 %s send-proxy-v2
frontend guarded
    bind 127.0.0.1:%s
    default_backend guarded
backend guarded
    server s1 %s send-proxy-v2
`, fe1, plainAddr, fe2, guardedAddr)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, exec.Command(haproxy, "-f", path, "-db"))
	testutil.WaitDial(t, "tcp", "127.0.0.1:"+fe1, 10*time.Second)
	testutil.WaitDial(t, "tcp", "127.0.0.1:"+fe2, 10*time.Second)

	got, port := greetFrom(t, "127.0.0.2", "127.0.0.1:"+fe1)
	if got != greeting {
		t.Fatalf("through haproxy: %q", got)
	}
	plain.Stderr.Wait(t, regexp.MustCompile(`^Got connection from 127\.0\.0\.2:`+strconv.Itoa(port)+`$`), 5*time.Second)

	if got, _ := greetFrom(t, "127.0.0.2", "127.0.0.1:"+fe2); got != "" {
		t.Fatalf("denied client through haproxy got %q", got)
	}
	guarded.Stderr.Wait(t, regexp.MustCompile(`reason=denied err="refused 127\.0\.0\.2 by rule \\"deny 127\.0\.0\.2\\""`), 5*time.Second)
	if got, _ := greetFrom(t, "127.0.0.3", "127.0.0.1:"+fe2); got != greeting {
		t.Fatalf("allowed client through haproxy got %q", got)
	}

	for _, tc := range []struct {
		send string
		log  string
	}{
		{"garbage\r\n", `reason=protocol-error err="missing PROXY protocol header"`},
		{"PROXY TCP4 300.1.1.1 1.1.1.1 1 2\r\n", `reason=protocol-error err="malformed PROXY protocol header`},
		{"\r\n\r\n\x00\r\nQUIT\n\x2f\x11\x00\x0c", `reason=protocol-error err="malformed PROXY protocol header`},
		{"", `reason=protocol-error err="no PROXY protocol header in time \(500ms\)"`},
	} {
		c := dialFrom(t, "127.0.0.1", plainAddr)
		io.WriteString(c, tc.send)
		if b, _ := io.ReadAll(c); len(b) != 0 {
			t.Errorf("header %q: got %q", tc.send, b)
		}
		plain.Stderr.Wait(t, regexp.MustCompile(regexp.QuoteMeta("remote="+c.LocalAddr().String()+" ")+`.*`+tc.log), 5*time.Second)
	}
}

// sockit relay --send-proxy-protocol v1|v2 in front of sockit serve
// --proxy-protocol: the server logs the relay's client.
func TestRelaySendsProxyProtocol(t *testing.T) {
	srv, srvAddr := serve(t, "127.0.0.1:0", "--proxy-protocol")
	for _, v := range []string{"v1", "v2"} {
		_, relayAddr := startRelay(t, "127.0.0.1:0", srvAddr, "--send-proxy-protocol", v)
		got, port := greetFrom(t, "127.0.0.2", relayAddr)
		if got != greeting {
			t.Fatalf("%s: got %q", v, got)
		}
		srv.Stderr.Wait(t, regexp.MustCompile(`^Got connection from 127\.0\.0\.2:`+strconv.Itoa(port)+`$`), 5*time.Second)
	}
}

// --allow 127.0.0.1 --deny 127.0.0.0/8 from 127.0.0.1 and 127.0.0.2: deny
// always wins (ncat's rule), so both are refused with the rule logged; an
// allow list alone admits 127.0.0.1 only.
func TestAllowDenyFromTwoSources(t *testing.T) {
	both, addr := serve(t, "127.0.0.1:0", "--allow", "127.0.0.1", "--deny", "127.0.0.0/8")
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		if got, port := greetFrom(t, src, addr); got != "" {
			t.Errorf("%s got %q", src, got)
		} else {
			both.Stderr.Wait(t, regexp.MustCompile(`remote=`+regexp.QuoteMeta(src)+`:`+strconv.Itoa(port)+` reason=denied err="refused .* by rule \\"deny 127\.0\.0\.0/8\\""`), 5*time.Second)
		}
	}

	file := filepath.Join(t.TempDir(), "allow.txt")
	os.WriteFile(file, []byte("# who may connect\n127.0.0.1   # this host\n\n"), 0o600)
	only, addr := serve(t, "127.0.0.1:0", "--allow-file", file)
	if got, _ := greetFrom(t, "127.0.0.1", addr); got != greeting {
		t.Errorf("127.0.0.1 got %q", got)
	}
	if got, port := greetFrom(t, "127.0.0.2", addr); got != "" {
		t.Errorf("127.0.0.2 got %q", got)
	} else {
		only.Stderr.Wait(t, regexp.MustCompile(`remote=127\.0\.0\.2:`+strconv.Itoa(port)+` reason=denied .*not in the allow list`), 5*time.Second)
	}
}

// --rate 3/s: of ten quick connections from one source about three are
// served; another source is not affected.
func TestRatePerSource(t *testing.T) {
	srv, addr := serve(t, "127.0.0.1:0", "--rate", "3/s")
	served := 0
	start := time.Now()
	for range 10 {
		if got, _ := greetFrom(t, "127.0.0.1", addr); got == greeting {
			served++
		}
	}
	// A burst of 3, then 3 more a second while the loop ran.
	if most := 3 + int(3*time.Since(start).Seconds()) + 1; served < 3 || served > most {
		t.Fatalf("%d of 10 connections in %v served at --rate 3/s", served, time.Since(start))
	}
	if served == 10 && time.Since(start) < 2*time.Second {
		t.Fatalf("no connection refused at --rate 3/s")
	}
	if got, _ := greetFrom(t, "127.0.0.2", addr); got != greeting {
		t.Fatalf("another source got %q", got)
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`reason=denied err="refused 127\.0\.0\.1 by rule \\"rate 3/s\\""`), 5*time.Second)
}

// --max-conns-per-ip 2: a third connection from one source is refused while
// two are open; another source is served.
func TestMaxConnsPerIP(t *testing.T) {
	srv, addr := serve(t, "127.0.0.1:0", "--echo", "--max-conns-per-ip", "2")
	echoes := func(c net.Conn) bool {
		if _, err := io.WriteString(c, "x"); err != nil {
			return false
		}
		b := make([]byte, 1)
		_, err := io.ReadFull(c, b)
		return err == nil
	}
	a, b := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	if !echoes(a) || !echoes(b) {
		t.Fatal("two connections are not served")
	}
	if echoes(dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("a third connection from 127.0.0.1 is served")
	}
	if !echoes(dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("127.0.0.2 is not served")
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`reason=max-conns err="refused 127\.0\.0\.1 by rule \\"max-conns-per-ip 2\\""`), 5*time.Second)
}

// Slow clients (slowloris) that never finish a PROXY header or a proxy
// request are dropped at --header-timeout.
func TestHeaderTimeouts(t *testing.T) {
	for _, args := range [][]string{
		{"--proxy-protocol"},
		{"--socks5"},
		{"--http-connect"},
	} {
		srv, addr := serve(t, append([]string{"127.0.0.1:0", "--header-timeout", "300ms"}, args...)...)
		c := dialFrom(t, "127.0.0.1", addr)
		io.WriteString(c, "\x05") // a byte, then silence
		start := time.Now()
		io.ReadAll(c)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%v: slow client held for %v", args, d)
		}
		srv.Stderr.Wait(t, regexp.MustCompile(`remote=`+regexp.QuoteMeta(c.LocalAddr().String())+` reason=protocol-error`), 5*time.Second)
	}
}

// startRelay starts "sockit relay FROM TO ARGS".
func startRelay(t *testing.T, from, to string, args ...string) (*testutil.Proc, string) {
	t.Helper()
	return testutil.StartSockit(t, append([]string{"relay", from, to}, args...)...)
}

// serve starts "sockit serve ARGS" and returns it with its address.
func serve(t *testing.T, args ...string) (*testutil.Proc, string) {
	t.Helper()
	return testutil.StartSockit(t, append([]string{"serve"}, args...)...)
}
