package foundation

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// --backlog sets the listen queue length (ss shows it as a listener's
// Send-Q); without it the queue is the system's maximum.
func TestFlagBacklog(t *testing.T) {
	ss := testutil.NeedCommand(t, "ss")
	somaxconn := "4096"
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		somaxconn = strings.TrimSpace(string(b))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backlog", "7"}, "7"},
		{nil, somaxconn},
	} {
		srv, address := sockit(t, append([]string{"serve", "127.0.0.1:0"}, tc.args...)...)
		out, errOut, code := run(t, 10*time.Second, nil, ss, "-Hltn", "sport = :"+splitPort(t, address))
		f := strings.Fields(out)
		if code != 0 || len(f) < 3 {
			t.Fatalf("ss: exit %d, %q %q", code, out, errOut)
		}
		if f[2] != tc.want {
			t.Errorf("serve %v: listen queue %s, want %s (ss: %q)", tc.args, f[2], tc.want, out)
		}
		srv.Signal(sigTERM)
		srv.Exit(10 * time.Second)
	}
}

// --max-conns N serves N connections at once and closes more at once with
// a logged reason; a freed slot serves again.
func TestFlagMaxConns(t *testing.T) {
	srv, address := sockit(t, "serve", "127.0.0.1:0", "--echo", "--max-conns", "2")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2 {
		c, r := dialEcho(t, address)
		held = append(held, c)
		echo(t, c, r, "held\n")
	}
	extra, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(extra, "third\n")
	if n, err := io.Copy(io.Discard, extra); n != 0 || (err != nil && !isReset(err)) {
		t.Errorf("third connection: %d bytes, %v; want it closed", n, err)
	}
	extra.Close()
	srv.Stderr.Wait(t, regexp.MustCompile(`connection refused .*reason=max-conns max_conns=2`), 10*time.Second)

	held[0].Close()
	held = held[1:]
	testutil.Eventually(t, 10*time.Second, "a slot to free up", func() bool {
		c, err := net.DialTimeout("tcp", address, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "again\n")
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		return string(b) == "again\n"
	})
	held[0].Close()
	srv.Signal(sigTERM)
	if code := srv.Exit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d; %s", code, describe(srv))
	}
}

func dialEcho(t *testing.T, address string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// --idle-timeout closes a connection idle that long (serve --echo,
// serve --discard and relay), with the reason logged; a connection in use is
// not cut.
func TestFlagIdleTimeout(t *testing.T) {
	target, taddr := sockit(t, "serve", "127.0.0.1:0", "--echo")
	for _, args := range [][]string{
		{"serve", "127.0.0.1:0", "--echo"},
		{"serve", "127.0.0.1:0", "--discard"},
		{"relay", "127.0.0.1:0", taddr},
	} {
		name := args[0] + strings.Join(args[2:], "")
		if args[0] == "relay" {
			name = "relay"
		}
		t.Run(name, func(t *testing.T) {
			srv, address := sockit(t, append(args, "--idle-timeout", "400ms")...)
			c, r := dialEcho(t, address)
			defer c.Close()
			if args[2] != "--discard" {
				echo(t, c, r, "in use\n")
			}
			begin := time.Now()
			n, err := io.Copy(io.Discard, r)
			if n != 0 || (err != nil && !isReset(err)) {
				t.Errorf("idle connection: %d bytes, %v", n, err)
			}
			if d := time.Since(begin); d < 300*time.Millisecond {
				t.Errorf("closed after %v, before the idle timeout", d)
			}
			srv.Stderr.Wait(t, regexp.MustCompile(`reason=idle-timeout`), 10*time.Second)
			srv.Signal(sigTERM)
			if code := srv.Exit(10 * time.Second); code != 0 {
				t.Fatalf("exit %d; %s", code, describe(srv))
			}
		})
	}
	target.Signal(sigTERM)
	target.Exit(10 * time.Second)
}

// A stale Unix socket file (nobody listening) is replaced; the file is
// removed on exit. A live socket and a file that is not a socket are left
// alone.
func TestStaleUnixSocket(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []string{"unix", "unixgram"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(dir, kind+".sock")
			staleSocket(t, kind, path)
			srv, _ := sockit(t, "serve", kind+"://"+path, "--echo")
			out, errOut, code := runSockit(t, 10*time.Second, strings.NewReader("fresh\n"), "connect", kind+"://"+path, "--idle-timeout", "500ms")
			if code != 0 || out != "fresh\n" {
				t.Errorf("connect: exit %d, %q, %q", code, out, errOut)
			}
			if kind == "unix" {
				// An unnamed Unix client is named by the socket it reached.
				srv.Stderr.Wait(t, regexp.MustCompile(`^Got connection from a client on `+regexp.QuoteMeta(path)+`$`), 10*time.Second)
			}
			// A second server on the live socket fails and leaves it be.
			_, errOut, code = runSockit(t, 10*time.Second, nil, "serve", kind+"://"+path)
			if code != 1 {
				t.Errorf("second serve on a live socket: exit %d, %q", code, errOut)
			}
			oneLine(t, errOut, path, "address already in use")
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the live socket was removed: %v", err)
			}
			srv.Signal(sigTERM)
			if code := srv.Exit(10 * time.Second); code != 0 {
				t.Fatalf("exit %d; %s", code, describe(srv))
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file left after exit: %v", err)
			}
		})
	}
	t.Run("not-a-socket", func(t *testing.T) {
		path := filepath.Join(dir, "plain")
		if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := runSockit(t, 10*time.Second, nil, "serve", "unix://"+path)
		if code != 1 {
			t.Errorf("exit %d, want 1; %q", code, errOut)
		}
		oneLine(t, errOut, path, "not a socket")
		if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
			t.Errorf("the plain file was touched: %q, %v", b, err)
		}
	})
}

// staleSocket leaves a socket file at path that nobody listens on.
func staleSocket(t *testing.T, kind, path string) {
	t.Helper()
	ua := &net.UnixAddr{Name: path, Net: kind}
	if kind == "unix" {
		ln, err := net.ListenUnix(kind, ua)
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close()
	} else {
		c, err := net.ListenUnixgram(kind, ua)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no stale socket at %s: %v", path, err)
	}
}

// --greeting's C escapes reach the client byte for byte, NUL and 0xff
// included; "Got connection from" names each client's address and port.
func TestFlagGreetingEscapes(t *testing.T) {
	srv, address := sockit(t, "serve", "127.0.0.1:0", "--greeting", `\0\xff\x41\\\t\r\n`)
	if strings.HasSuffix(address, ":0") {
		t.Fatalf("listening line names port 0: %s", address)
	}
	out, errOut, code := runSockit(t, 10*time.Second, nil, "connect", address)
	if want := "\x00\xffA\\\t\r\n"; code != 0 || out != want {
		t.Fatalf("connect: exit %d, stdout %q (want %q), stderr %q", code, out, want, errOut)
	}
	srv.Stderr.Wait(t, reGot, 10*time.Second)
	srv.Signal(sigTERM)
	if code := srv.Exit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d; %s", code, describe(srv))
	}
}

// relay --idle-timeout also ends a relay whose target stopped reading: the
// copy toward it is blocked in a write, so no byte moves either way.
func TestRelayIdleTimeoutStuckTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // held, never read
		}
	}()
	rl, address := sockit(t, "relay", "127.0.0.1:0", ln.Addr().String(), "--idle-timeout", "300ms")
	c, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case tc := <-accepted:
		defer tc.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the relay never dialed the target")
	}
	// Write until the buffers are full and the relay is stuck writing.
	chunk := make([]byte, 64*1024)
	c.SetWriteDeadline(time.Now().Add(15 * time.Second))
	begin := time.Now()
	for {
		if _, err := c.Write(chunk); err != nil {
			break // the relay closed the connection
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
		t.Errorf("after the idle timeout: %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("relay ended after %v", d)
	}
	rl.Stderr.Wait(t, regexp.MustCompile(`reason=idle-timeout`), 10*time.Second)
	rl.Signal(sigTERM)
	if code := rl.Exit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d; %s", code, describe(rl))
	}
}
