package ncat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

var reListen = regexp.MustCompile(`Listening on (\S+)`)

// runListener runs cfg in listen mode in the background and returns the
// address it listens on and a channel with Run's result.
func runListener(t *testing.T, ctx context.Context, cfg *Config) (string, <-chan error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, cfg) }()
	var address string
	stderr := cfg.Stderr.(*testutil.Buffer)
	testutil.Eventually(t, 5*time.Second, "the listening line", func() bool {
		m := reListen.FindStringSubmatch(stderr.String())
		if m == nil {
			return false
		}
		address = m[1]
		return true
	})
	return address, errc
}

func TestConnectSession(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c) // echo until the half-close, then close
		c.Close()
	}()
	var out testutil.Buffer
	cfg := &Config{Address: ln.Addr().String(), Stdin: strings.NewReader("a\nb\n"), Stdout: &out, Stderr: &testutil.Buffer{}, CRLF: true, Verbose: 1}
	if err := Run(ctx, cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.String() != "a\r\nb\r\n" {
		t.Errorf("stdout %q", out.String())
	}
	if !strings.Contains(cfg.Stderr.(*testutil.Buffer).String(), "Ncat: 6 bytes sent, 6 bytes received") {
		t.Errorf("stderr %q", cfg.Stderr.(*testutil.Buffer).String())
	}
}

func TestIdleTimeout(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		io.Copy(io.Discard, c)
	})
	pr, pw := io.Pipe()
	defer pw.Close()
	cfg := &Config{Address: ln.Addr().String(), Stdin: pr, Stdout: io.Discard, Stderr: &testutil.Buffer{}, IdleTimeout: 200 * time.Millisecond}
	err := Run(ctx, cfg)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 || ee.Error() != "Idle timeout expired (200 ms)." {
		t.Fatalf("Run = %v, want exit 1 idle timeout", err)
	}
}

// TestKeepOpenSlowClient: listen -k with stdin broadcast to two clients; one
// never reads and is dropped once its queue overflows, while the other gets
// every byte, and both clients' bytes reach stdout.
func TestKeepOpenSlowClient(t *testing.T) {
	ctx, cancel := context.WithCancel(testutil.Context(t, 60*time.Second))
	defer cancel()
	stdinR, stdinW := io.Pipe()
	var out testutil.Buffer
	var logs testutil.Buffer
	cfg := &Config{Listen: true, KeepOpen: true, Address: "127.0.0.1:0", Verbose: 1,
		Stdin: stdinR, Stdout: &out, Stderr: &testutil.Buffer{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	address, errc := runListener(t, ctx, cfg)

	fast, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(netipAddrPort(t, address)))
	if err != nil {
		t.Fatal(err)
	}
	slow.SetReadBuffer(4096)
	defer slow.Close()
	testutil.Eventually(t, 5*time.Second, "two clients registered", func() bool {
		return strings.Count(cfg.Stderr.(*testutil.Buffer).String(), "Connection from 127.0.0.1:") >= 2
	})
	fast.Write([]byte("from fast\n"))
	slow.Write([]byte("from slow\n"))
	testutil.Eventually(t, 5*time.Second, "both clients on stdout", func() bool {
		s := out.String()
		return strings.Contains(s, "from fast\n") && strings.Contains(s, "from slow\n")
	})

	const chunks, size = 1200, 32 * 1024
	got := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, fast)
		got <- int(n)
	}()
	chunk := bytes.Repeat([]byte("x"), size)
	for range chunks {
		if _, err := stdinW.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	stdinW.Close() // half-closes the remaining client
	select {
	case n := <-got:
		if n != chunks*size {
			t.Errorf("fast client got %d bytes, want %d", n, chunks*size)
		}
	case <-ctx.Done():
		t.Fatal("the fast client was stalled")
	}
	if !strings.Contains(logs.String(), "slow-consumer") {
		t.Errorf("the slow client's drop was not logged: %q", logs.String())
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func netipAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a.AddrPort()
}
