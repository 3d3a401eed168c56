package foundation

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// Port in use, for each command that listens: one line naming the address
// and the cause, exit 1.
func TestErrorPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tcp, udp := ln.Addr().String(), pc.LocalAddr().String()
	for _, args := range [][]string{
		{"serve", tcp},
		{"serve", "tcp4://" + tcp, "--echo"},
		{"relay", tcp, "127.0.0.1:9"},
		{"serve", "udp://" + udp},
	} {
		_, errOut, code := runSockit(t, 10*time.Second, nil, args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1; stderr %q", args, code, errOut)
		}
		oneLine(t, errOut, strings.TrimPrefix(args[1], "tcp4://"), "address already in use")
	}
}

// Unknown host and unknown port: one line naming them, exit 1.
func TestErrorUnknownHost(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"connect", "no-such-host.invalid:80", "--timeout", "5s"}, []string{"no-such-host.invalid", "unknown host"}},
		{[]string{"serve", "no-such-host.invalid:0"}, []string{"no-such-host.invalid", "unknown host"}},
		{[]string{"connect", "127.0.0.1:no-such-service"}, []string{"127.0.0.1", `unknown port "no-such-service"`}},
		{[]string{"serve", "udp://127.0.0.1:no-such-service"}, []string{"udp://127.0.0.1", `unknown port "no-such-service"`}},
	} {
		_, errOut, code := runSockit(t, 20*time.Second, nil, tc.args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1; stderr %q", tc.args, code, errOut)
		}
		oneLine(t, errOut, tc.want...)
	}
}

// A relay whose target is an unknown host closes each client with a logged
// reason and keeps serving.
func TestRelayDialFailureKeepsServing(t *testing.T) {
	rl, address := sockit(t, "relay", "127.0.0.1:0", "no-such-host.invalid:80")
	for range 3 {
		c, err := net.DialTimeout("tcp", address, 5*time.Second)
		if err != nil {
			t.Fatalf("relay stopped accepting: %v", err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if n, err := io.Copy(io.Discard, c); n != 0 || (err != nil && !isReset(err)) {
			t.Errorf("client of a failed dial: %d bytes, %v", n, err)
		}
		c.Close()
	}
	failed := regexp.MustCompile(`reason=dial-failed .*no-such-host\.invalid`)
	testutil.Eventually(t, 10*time.Second, "three dial-failed lines", func() bool { return rl.Stderr.Count(failed) == 3 })
	if !rl.Running() {
		t.Fatalf("relay exited; %s", describe(rl))
	}
	rl.Signal(sigTERM)
	if c := rl.Exit(10 * time.Second); c != 0 {
		t.Fatalf("relay exit %d; %s", c, describe(rl))
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

// Bad addresses: one line naming the address and the bad part, exit 1 (as
// the issue lists them with the failed work); bad flags exit 2.
func TestErrorBadAddress(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"serve", ":99999"}, 1, []string{`":99999"`, `bad port "99999"`}},
		{[]string{"serve", "foo://x:1"}, 1, []string{`"foo://x:1"`, `unknown scheme "foo"`}},
		{[]string{"connect", "[::1:80"}, 1, []string{`"[::1:80"`, "missing ']'"}},
		{[]string{"connect", "tcp://host"}, 1, []string{`"tcp://host"`, "missing port"}},
		{[]string{"serve", "unix://"}, 1, []string{`"unix://"`, "socket path"}},
		{[]string{"relay", "127.0.0.1:0", "bad:::"}, 1, []string{`"bad:::"`, "too many colons"}},
		{[]string{"relay", "udp://:x:y", "127.0.0.1:1"}, 1, []string{`"udp://:x:y"`}},
		{[]string{"serve", "-"}, 2, []string{"cannot listen on -"}}, // a valid address serve cannot use: usage
		{[]string{"serve", "--backlog", "many"}, 2, []string{"--backlog", "many"}},
		{[]string{"serve", "--grace", "soon"}, 2, []string{"--grace", "soon"}},
		{[]string{"serve", "--greeting", `\xZZ`}, 2, []string{"--greeting"}},
		{[]string{"serve", "--echo", "--discard"}, 2, []string{"--echo", "--discard"}},
		{[]string{"serve", "a", "b"}, 2, []string{"accepts at most 1 arg"}},
		{[]string{"serve", "--max-conns", "-1"}, 2, []string{"--max-conns", "must not be negative"}},
		{[]string{"serve", "--backlog=-5"}, 2, []string{"--backlog", "must not be negative"}},
		{[]string{"relay", "--idle-timeout", "-1s", ":0", ":1"}, 2, []string{"--idle-timeout", "must not be negative"}},
		{[]string{"serve", "--grace=-1s"}, 2, []string{"--grace", "must not be negative"}},
		{[]string{"connect", "--timeout=-2s"}, 2, []string{"--timeout", "must not be negative"}},
	} {
		_, errOut, code := runSockit(t, 10*time.Second, nil, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args, code, tc.code, errOut)
		}
		oneLine(t, errOut, tc.want...)
	}
}

// Permission denied: binding a port below 1024, and a Unix socket in a
// directory it may not write, as an unprivileged user (uid 65534 when the
// tests run as root).
func TestErrorPermissionDenied(t *testing.T) {
	dir, err := os.MkdirTemp("", "sockit-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A copy of the binary that uid 65534 may run.
	bin := filepath.Join(dir, "sockit")
	data, err := os.ReadFile(sockitBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		{"serve", "unix://" + filepath.Join(locked, "x.sock"), "permission denied"},
		{"serve", "unixgram://" + filepath.Join(locked, "x.sock"), "permission denied"},
	}
	if start, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(start))); n > 1 {
			cases = append(cases, []string{"serve", "127.0.0.1:1", "permission denied"}, []string{"serve", "udp://127.0.0.1:1", "permission denied"})
		} else {
			t.Logf("ports below 1024 are not privileged here (ip_unprivileged_port_start=%d); testing Unix sockets only", n)
		}
	}
	for _, tc := range cases {
		cmd := exec.Command(bin, tc[:2]...)
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		var errOut strings.Builder
		cmd.Stderr = &errOut
		err := cmd.Run()
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatalf("%v: %v", tc[:2], err)
		}
		if code != 1 {
			t.Errorf("%v: exit %d, want 1; stderr %q", tc[:2], code, errOut.String())
		}
		t.Logf("%v: %s", tc[:2], strings.TrimSpace(errOut.String()))
		oneLine(t, errOut.String(), strings.TrimPrefix(strings.TrimPrefix(tc[1], "unix://"), "unixgram://"), tc[2])
	}
}

// connect --timeout gives up on a peer that never answers: a listener whose
// queue is full drops further handshakes, so the dial hangs until the
// timeout. One line, exit 1.
func TestConnectTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue (backlog 0 holds one) with connections nobody accepts.
	var fill []net.Conn
	defer func() {
		for _, c := range fill {
			c.Close()
		}
	}()
	for range 4 {
		c, err := net.DialTimeout("tcp", address, 300*time.Millisecond)
		if err != nil {
			break
		}
		fill = append(fill, c)
	}
	begin := time.Now()
	_, errOut, code := runSockit(t, 20*time.Second, nil, "connect", address, "--timeout", "700ms")
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, errOut)
	}
	oneLine(t, errOut, address, "timeout")
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// A server that closes a client at once (--max-conns full) ends sockit
// connect with exit 0 (closed) or one line naming the reset, never a
// half-close error about a connection that is already gone.
func TestConnectToFullServer(t *testing.T) {
	srv, address := sockit(t, "serve", "127.0.0.1:0", "--echo", "--max-conns", "1")
	hold, r := dialEcho(t, address)
	defer hold.Close()
	echo(t, hold, r, "holding the only slot\n")
	for range 10 {
		_, errOut, code := runSockit(t, 10*time.Second, strings.NewReader("hi\n"), "connect", address)
		switch {
		case code == 0:
		case code == 1 && strings.Contains(errOut, "reset"):
			oneLine(t, errOut, address, "reset")
		default:
			t.Errorf("connect to a full server: exit %d, stderr %q", code, errOut)
		}
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`reason=max-conns`), 10*time.Second)
	hold.Close()
	srv.Signal(sigTERM)
	if code := srv.Exit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d; %s", code, describe(srv))
	}
}
