package proxy

import (
	"net"
	"os"
	"os/exec"
	"regexp"
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
		out, stderr, code := testutil.Run(t, 20*time.Second, nil, curl, "-sS", "--max-time", "10", "--socks5-hostname", proxy, url)
		if code != 0 || out != body {
			t.Errorf("curl --socks5-hostname %s: %q, exit %d, %s", proxy, out, code, stderr)
		}
	}
	if out, _, code := testutil.Run(t, 20*time.Second, nil, curl, "-sS", "--max-time", "10", "--socks5-hostname", "alice:wrong@"+authed, url); code == 0 {
		t.Errorf("a wrong password got through: %q", out)
	}
	if _, _, code := testutil.Run(t, 20*time.Second, nil, curl, "-sS", "--max-time", "10", "--socks5-hostname", authed, url); code == 0 {
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
		out, stderr, code := testutil.Run(t, 20*time.Second, nil, curl, "-sS", "--max-time", "10", "-x", proxy, "--proxytunnel", url)
		if code != 0 || out != body {
			t.Errorf("curl -x %s --proxytunnel: %q, exit %d, %s", proxy, out, code, stderr)
		}
	}
	_, stderr, code := testutil.Run(t, 20*time.Second, nil, curl, "-sS", "--max-time", "10", "-x", "http://alice:wrong@"+authed, "--proxytunnel", url)
	if code == 0 || !strings.Contains(stderr, "407") {
		t.Errorf("a wrong password: exit %d, %s", code, stderr)
	}
}

// --allow-dest: a destination outside the rules is refused and the refusal
// logged with the rule.
func TestAllowDestRefusedAndLogged(t *testing.T) {
	curl := testutil.NeedCommand(t, "curl")
	_, tport := target(t)
	p, addr := serve(t, "127.0.0.1:0", "--http-connect", "--allow-dest", "127.0.0.1:1-2")
	_, stderr, code := testutil.Run(t, 20*time.Second, nil, curl, "-sS", "--max-time", "10", "-x", "http://"+addr, "--proxytunnel", "http://127.0.0.1:"+tport+"/")
	if code == 0 || !strings.Contains(stderr, "403") {
		t.Fatalf("curl through a forbidding proxy: exit %d, %s", code, stderr)
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
		out, stderr, code := testutil.Run(t, 20*time.Second, nil, ncat, append(args, thost, tport)...)
		if code != 0 || !strings.HasSuffix(out, body) {
			t.Errorf("ncat %v: %q, exit %d, %s", args, out, code, stderr)
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
	ncatPort := testutil.FreePortString(t)
	testutil.Start(t, exec.Command(ncat, "-lk", "--proxy-type", "http", "127.0.0.1", ncatPort))
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
		out, stderr, code := testutil.Run(t, 20*time.Second, openStdin(t), testutil.SockitBinary(t), args...)
		if code != 0 || !strings.HasSuffix(out, body) {
			t.Errorf("sockit %v: %q, exit %d, %s", args, out, code, stderr)
		}
	}
	// A relay reaches its TO through a proxy too.
	_, relayAddr := startRelay(t, "127.0.0.1:0", net.JoinHostPort(thost, tport), "--via", "socks5://u:p@"+socks)
	out, stderr, code := testutil.Run(t, 20*time.Second, nil, "curl", "-sS", "--max-time", "10", "http://"+relayAddr+"/")
	if code != 0 || out != body {
		t.Errorf("curl through a relay --via socks5: %q, exit %d, %s", out, code, stderr)
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
