//go:build linux

package fast_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// startChild runs "sockit serve 127.0.0.1:0 ARGS..." (built without the race
// detector) and returns its address and process. Its stderr is drained in
// the background once the "listening on" line is read.
func startChild(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	bin := testutil.SockitBinary(t)
	cmd := exec.Command(bin, append([]string{"serve", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- a
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-lines:
		return a, cmd
	case <-time.After(20 * time.Second):
		t.Fatal("no 'listening on' line from sockit serve")
	}
	return "", nil
}

// vmRSS returns a process's resident set size in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestThousandsOfIdleEchoConns holds 4,000 echo connections open on a child
// sockit, mixed with bad clients, checks that every one still echoes, and
// logs the server's resident memory per idle connection.
func TestThousandsOfIdleEchoConns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 4000
	addr, cmd := startChild(t, "--echo")
	pid := cmd.Process.Pid
	before := vmRSS(t, pid)

	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%100 == 0 {
			// A bad client now and then: a reset in the middle of an echo.
			b, err := net.Dial("tcp", addr)
			if err == nil {
				b.Write(make([]byte, 50000))
				b.(*net.TCPConn).SetLinger(0)
				b.Close()
			}
		}
	}
	// Every connection is served: one byte each way.
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for i, c := range conns {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != byte(i) {
			t.Fatalf("echo %d: %v %v", i, b, err)
		}
	}
	after := vmRSS(t, pid)
	t.Logf("server RSS %d KiB before, %d KiB with %d idle echo connections: %.0f bytes per connection",
		before>>10, after>>10, n, float64(after-before)/n)

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sockit serve after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sockit serve did not exit after SIGTERM")
	}
}
