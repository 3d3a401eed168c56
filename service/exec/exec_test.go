package exec_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"sockit/addr"
	"sockit/internal/testutil"
	"sockit/server"
	"sockit/service/exec"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"cat", []string{"cat"}, ""},
		{"  tr  a-z   A-Z ", []string{"tr", "a-z", "A-Z"}, ""},
		{`echo 'a b' "c d"`, []string{"echo", "a b", "c d"}, ""},
		{`echo a\ b`, []string{"echo", "a b"}, ""},
		{`echo "a \"q\" \$x \n"`, []string{"echo", `a "q" $x \n`}, ""},
		{`echo 'it''s'`, []string{"echo", "its"}, ""},
		{`echo ''`, []string{"echo", ""}, ""},
		{`echo a#b #c`, []string{"echo", "a#b", "#c"}, ""},
		{"", nil, ""},
		{`echo 'open`, nil, "unterminated single quote"},
		{`echo "open`, nil, "unterminated double quote"},
		{`echo \`, nil, "trailing backslash"},
	}
	for _, tt := range tests {
		got, err := exec.Split(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Split(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzSplit: Split never panics, and a command's String splits back into the
// same words.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"cat", `echo 'a b' "c\"d" e\ f`, `'`, `"\`, "a\tb\nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := exec.Split(s)
		if err != nil || len(words) == 0 {
			return
		}
		again, err := exec.Split(exec.Command{Argv: words}.String())
		if err != nil || !reflect.DeepEqual(again, words) {
			t.Fatalf("Split(String(%q)) = %q, %v", words, again, err)
		}
	})
}

func TestFromAddr(t *testing.T) {
	for in, want := range map[string][]string{
		"exec:tr a-z A-Z":  {"tr", "a-z", "A-Z"},
		"sh:echo $HOME |x": {"/bin/sh", "-c", "echo $HOME |x"},
	} {
		a, err := addr.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		c, err := exec.FromAddr(a)
		if err != nil || !reflect.DeepEqual(c.Argv, want) {
			t.Errorf("FromAddr(%s) = %q, %v; want %q", in, c.Argv, err, want)
		}
	}
	a, _ := addr.Parse("exec:echo 'x")
	if _, err := exec.FromAddr(a); err == nil {
		t.Error("FromAddr of an unterminated quote succeeded")
	}
}

func TestEnviron(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7}
	remote := &net.TCPAddr{IP: net.IPv6loopback, Port: 40000}
	got := exec.Environ(local, remote)
	want := []string{
		"SOCKIT_REMOTE_ADDR=::1", "NCAT_REMOTE_ADDR=::1", "SOCKIT_REMOTE_PORT=40000", "NCAT_REMOTE_PORT=40000",
		"SOCKIT_LOCAL_ADDR=127.0.0.1", "NCAT_LOCAL_ADDR=127.0.0.1", "SOCKIT_LOCAL_PORT=7", "NCAT_LOCAL_PORT=7",
		"SOCKIT_PROTO=tcp", "NCAT_PROTO=TCP",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Environ = %q\nwant %q", got, want)
	}
	u := exec.Environ(&net.UnixAddr{Name: "/run/s.sock", Net: "unix"}, nil)
	if !reflect.DeepEqual(u, []string{"SOCKIT_LOCAL_ADDR=/run/s.sock", "NCAT_LOCAL_ADDR=/run/s.sock", "SOCKIT_PROTO=unix", "NCAT_PROTO=UNIX"}) {
		t.Errorf("unix Environ = %q", u)
	}
	if e := exec.Environ(nil, nil); len(e) != 0 {
		t.Errorf("Environ(nil, nil) = %q", e)
	}
}

// serve runs h on a loopback listener and returns its address and log.
func serve(t *testing.T, h server.Handler) (string, *testutil.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := new(testutil.Buffer)
	srv := &server.Server{Handler: h, Logger: slog.New(slog.NewTextHandler(log, nil))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), log
}

// talk sends in, half-closes and returns everything the server sends back.
func talk(t *testing.T, ctx context.Context, address, in string) string {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, out)
	}
	return string(out)
}

func TestHandlerCatEchoes(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	log := new(testutil.Buffer)
	address, _ := serve(t, exec.Handler{Command: exec.Command{Argv: []string{"cat"}}, Config: exec.Config{Logger: slog.New(slog.NewTextHandler(log, nil))}})
	big := strings.Repeat("0123456789abcdef", 64*1024) // 1 MiB: more than a pipe holds
	if got := talk(t, ctx, address, big); got != big {
		t.Fatalf("cat echoed %d bytes, want %d", len(got), len(big))
	}
	testutil.Eventually(t, 5*time.Second, "the exit status logged", func() bool {
		return strings.Contains(log.String(), `msg="exec exited"`) && strings.Contains(log.String(), `status="exit 0"`)
	})
}

func TestHandlerEnvironment(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	address, _ := serve(t, exec.Handler{Command: exec.ShellCommand(`echo "$SOCKIT_REMOTE_ADDR $SOCKIT_REMOTE_PORT $NCAT_LOCAL_PORT $NCAT_PROTO"`)})
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	_, lport, _ := net.SplitHostPort(address)
	want := "127.0.0.1 " + strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port) + " " + lport + " TCP\n"
	if string(out) != want {
		t.Errorf("child saw %q, want %q", out, want)
	}
}

func TestHandlerExitStatusLogged(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	log := new(testutil.Buffer)
	address, _ := serve(t, exec.Handler{Command: exec.ShellCommand("exit 3"), Config: exec.Config{Logger: slog.New(slog.NewTextHandler(log, nil))}})
	talk(t, ctx, address, "")
	testutil.Eventually(t, 5*time.Second, "exit status 3 logged", func() bool {
		return strings.Contains(log.String(), `status="exit status 3"`)
	})
}

// A child that ignores its input closing is killed after the grace period,
// and the connection ends then.
func TestHandlerKillsChildAfterGrace(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	log := new(testutil.Buffer)
	h := exec.Handler{
		// The shell's own child keeps stdout open too: killing must reach
		// the process group.
		Command: exec.ShellCommand("echo started; sleep 60; echo never"),
		Config:  exec.Config{Grace: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(log, nil))},
	}
	address, _ := serve(t, h)
	start := time.Now()
	got := talk(t, ctx, address, "ignored input")
	if got != "started\n" {
		t.Errorf("got %q", got)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("connection lasted %v; the child was not killed after its grace", d)
	}
	testutil.Eventually(t, 5*time.Second, "the kill logged", func() bool {
		s := log.String()
		return strings.Contains(s, "killing it") && strings.Contains(s, "signal: killed")
	})
}

func TestStartErrors(t *testing.T) {
	if _, err := exec.Start(exec.Command{Argv: []string{"/nonexistent/program"}}, exec.Config{}, nil, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Start of a missing program: %v", err)
	}
	if _, err := exec.Start(exec.Command{}, exec.Config{}, nil, nil); err == nil {
		t.Error("Start of an empty command succeeded")
	}
	if _, err := exec.ParseCommand("   "); err == nil {
		t.Error("ParseCommand of blanks succeeded")
	}
}

// The Dialer describes the connection in its context to the child.
func TestDialerWithPeer(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	peer := fakeConn{local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 2}}
	d := exec.Dialer{Command: exec.ShellCommand(`echo "$SOCKIT_REMOTE_ADDR:$SOCKIT_REMOTE_PORT"`)}
	c, err := d.DialContext(exec.WithPeer(ctx, peer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil || string(out) != "127.0.0.2:2\n" {
		t.Errorf("child said %q, %v", out, err)
	}
	if err := c.(*exec.Conn).Wait(); err != nil {
		t.Errorf("wait: %v", err)
	}
}

type fakeConn struct {
	net.Conn
	local, remote net.Addr
}

func (f fakeConn) LocalAddr() net.Addr  { return f.local }
func (f fakeConn) RemoteAddr() net.Addr { return f.remote }
