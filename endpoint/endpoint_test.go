package endpoint_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sockit/addr"
	"sockit/endpoint"
)

func parse(t *testing.T, s string) addr.Addr {
	t.Helper()
	a, err := addr.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestUnixStaleSocketReplacedAndRemoved(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.sock")
	// A stale socket file: bound, then its owner went away without unlinking.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale file missing: %v", err)
	}
	var c endpoint.Config
	ln, err := c.Listen(ctx, parse(t, "unix://"+path))
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	// A live socket is not stolen.
	if _, err := c.Listen(ctx, parse(t, "unix://"+path)); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second Listen = %v, want address already in use", err)
	}
	ln.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Close: %v", err)
	}
}

func TestUnixListenRefusesNonSocketFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	os.WriteFile(path, []byte("data"), 0o600)
	var c endpoint.Config
	_, err := c.Listen(context.Background(), parse(t, "unix://"+path))
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Fatal("regular file was clobbered")
	}
}

func TestErrorsNameAddressAndCause(t *testing.T) {
	ctx := context.Background()
	var c endpoint.Config
	ln, err := c.Listen(ctx, parse(t, "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	_, err = c.Listen(ctx, parse(t, busy))
	want := "listen tcp://" + busy + ": bind: address already in use"
	if err == nil || err.Error() != want {
		t.Errorf("port in use: %v, want %q", err, want)
	}

	c.DialTimeout = 5 * time.Second
	_, err = c.Dial(ctx, parse(t, "no-such-host.invalid:80"))
	if err == nil || !strings.HasPrefix(err.Error(), "connect tcp://no-such-host.invalid:80: unknown host no-such-host.invalid") {
		t.Errorf("unknown host: %v", err)
	}
	_, err = c.Dial(ctx, parse(t, "unix://"+filepath.Join(t.TempDir(), "none.sock")))
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("missing unix socket: %v", err)
	}
	_, err = c.Listen(ctx, parse(t, "-"))
	if !errors.Is(err, endpoint.ErrUnsupported) {
		t.Errorf("listen on stdio: %v", err)
	}
}

func TestUnixgramDialAndListen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.sock")
	var c endpoint.Config
	ln, err := c.Listen(ctx, parse(t, "unixgram://"+path))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := c.Dial(ctx, parse(t, "unixgram://"+path))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("ping"))
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := s.Read(buf)
	s.Write(buf[:n])
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = conn.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("unixgram reply %q, %v", buf[:n], err)
	}
}

func TestStdioDial(t *testing.T) {
	var out strings.Builder
	c := endpoint.Config{Stdin: strings.NewReader("in"), Stdout: &out}
	conn, err := c.Dial(context.Background(), parse(t, "-"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	conn.Write([]byte("out"))
	conn.Close()
	if string(got) != "in" || out.String() != "out" {
		t.Fatalf("stdio read %q wrote %q", got, out.String())
	}
}
