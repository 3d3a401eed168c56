package proxy

import (
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

const body = "hello\n"

// target starts a sockit greeting server that answers like an HTTP server.
func target(t *testing.T) (host, port string) {
	t.Helper()
	_, addr := serve(t, "127.0.0.1:0", "--greeting", `HTTP/1.0 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n`)
	host, port, _ = net.SplitHostPort(addr)
	return host, port
}

// openStdin returns a standard input that stays open until the test ends, so
// a sockit client ends when the server closes, not when its input does.
func openStdin(t *testing.T) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r
}

func TestCurlThroughSockitSOCKS5(t *testing.T) {
	curl := testutil.NeedCommand(t, "curl")
	_, tport := target(t)
	_, open := serve(t, "127.0.0.1:0", "--socks5")
	_, authed := serve(t, "127.0.0.1:0", "--socks5", "--proxy-auth", "alice:s3cret")
	url := "http://localhost:" + tport + "/"
	for _, proxy := range []string{open, "alice:s3cret@" + authed} {
		out, stderr, err := run(t, nil, curl, "-sS", "--max-time", "10", "--socks5-hostname", proxy, url)
		if err != nil || out != body {
			t.Errorf("curl --socks5-hostname %s: %q, %v, %s", proxy, out, err, stderr)
		}
	}
	if out, _, err := run(t, nil, curl, "-sS", "--max-time", "10", "--socks5-hostname", "alice:wrong@"+authed, url); err == nil {
		t.Errorf("a wrong password got through: %q", out)
	}
	if _, _, err := run(t, nil, curl, "-sS", "--max-time", "10", "--socks5-hostname", authed, url); err == nil {
		t.Errorf("no credentials got through")
	}
}

func TestCurlThroughSockitHTTPConnect(t *testing.T) {
	curl := testutil.NeedCommand(t, "curl")
	thost, tport := target(t)
	_, open := serve(t, "127.0.0.1:0", "--http-connect")
	_, authed := serve(t, "127.0.0.1:0", "--http-connect", "--proxy-auth", "alice:s3cret")
	url := "http://" + net.JoinHostPort(thost, tport) + "/"
	for _, proxy := range []string{"http://" + open, "http://alice:s3cret@" + authed} {
		out, stderr, err := run(t, nil, curl, "-sS", "--max-time", "10", "-x", proxy, "--proxytunnel", url)
		if err != nil || out != body {
			t.Errorf("curl -x %s --proxytunnel: %q, %v, %s", proxy, out, err, stderr)
		}
	}
	_, stderr, err := run(t, nil, curl, "-sS", "--max-time", "10", "-x", "http://alice:wrong@"+authed, "--proxytunnel", url)
	if err == nil || !strings.Contains(stderr, "407") {
		t.Errorf("a wrong password: %v, %s", err, stderr)
	}
}

// --allow-dest: a destination outside the rules is refused and the refusal
// logged with the rule.
func TestAllowDestRefusedAndLogged(t *testing.T) {
	curl := testutil.NeedCommand(t, "curl")
	_, tport := target(t)
	p, addr := serve(t, "127.0.0.1:0", "--http-connect", "--allow-dest", "127.0.0.1:1-2")
	_, stderr, err := run(t, nil, curl, "-sS", "--max-time", "10", "-x", "http://"+addr, "--proxytunnel", "http://127.0.0.1:"+tport+"/")
	if err == nil || !strings.Contains(stderr, "403") {
		t.Fatalf("curl through a forbidding proxy: %v, %s", err, stderr)
	}
	p.Stderr.Wait(t, regexp.MustCompile(`reason=denied .*127\.0\.0\.1:`+tport+`.*no --allow-dest rule matches`), 5*time.Second)
}

func TestNcatAsClientOfSockitProxies(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	thost, tport := target(t)
	_, socks := serve(t, "127.0.0.1:0", "--socks5")
	_, socksAuth := serve(t, "127.0.0.1:0", "--socks5", "--proxy-auth", "bob:pw")
	_, httpP := serve(t, "127.0.0.1:0", "--http-connect")
	_, httpAuth := serve(t, "127.0.0.1:0", "--http-connect", "--proxy-auth", "bob:pw")
	for _, args := range [][]string{
		{"--proxy-type", "socks5", "--proxy", socks},
		{"--proxy-type", "socks5", "--proxy", socksAuth, "--proxy-auth", "bob:pw"},
		{"--proxy-type", "http", "--proxy", httpP},
		{"--proxy-type", "http", "--proxy", httpAuth, "--proxy-auth", "bob:pw"},
	} {
		out, stderr, err := run(t, nil, ncat, append(args, thost, tport)...)
		if err != nil || !strings.HasSuffix(out, body) {
			t.Errorf("ncat %v: %q, %v, %s", args, out, err, stderr)
		}
	}
}

// sockit connect --via through sockit's own proxies, alone and chained, and
// through ncat's HTTP proxy (ncat -l --proxy-type http).
func TestSockitViaProxies(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	thost, tport := target(t)
	_, socks := serve(t, "127.0.0.1:0", "--socks5", "--proxy-auth", "u:p")
	_, httpP := serve(t, "127.0.0.1:0", "--http-connect")
	ncatPort := freePort(t)
	nc := startChild(t, ncat, "-lk", "--proxy-type", "http", "127.0.0.1", ncatPort)
	_ = nc
	testutil.WaitDial(t, "tcp", "127.0.0.1:"+ncatPort, 10*time.Second)
	ncatProxy := "http://127.0.0.1:" + ncatPort
	for _, chain := range [][]string{
		{"socks5://u:p@" + socks},
		{"http://" + httpP},
		{ncatProxy},
		{"socks5://u:p@" + socks, "http://" + httpP, ncatProxy},
	} {
		args := []string{"connect", net.JoinHostPort(thost, tport)}
		for _, v := range chain {
			args = append(args, "--via", v)
		}
		out, stderr, err := run(t, openStdin(t), testutil.SockitBinary(t), args...)
		if err != nil || !strings.HasSuffix(out, body) {
			t.Errorf("sockit %v: %q, %v, %s", args, out, err, stderr)
		}
	}
	// A relay reaches its TO through a proxy too.
	_, relayAddr := startRelay(t, "127.0.0.1:0", net.JoinHostPort(thost, tport), "--via", "socks5://u:p@"+socks)
	out, stderr, err := run(t, nil, "curl", "-sS", "--max-time", "10", "http://"+relayAddr+"/")
	if err != nil || out != body {
		t.Errorf("curl through a relay --via socks5: %q, %v, %s", out, err, stderr)
	}
}

// startRelay starts "sockit relay FROM TO ARGS".
func startRelay(t *testing.T, from, to string, args ...string) (*child, string) {
	t.Helper()
	return testutil.StartSockit(t, append([]string{"relay", from, to}, args...)...)
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago, for peers
// that cannot report the port they were given.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
