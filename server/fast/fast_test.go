//go:build linux

package fast_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/server"
	"sockit/server/fast"
)

const greeting = "Thank you for connecting\n"

// start serves srv on a fresh loopback port and shuts it down when the test
// ends. It returns the address and Serve's result channel.
func start(t *testing.T, srv *fast.Server) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	testutil.WaitDial(t, "tcp", addr, 5*time.Second)
	return addr, errc
}

// lines is a slog handler that keeps the messages it gets.
type lines struct {
	mu   sync.Mutex
	msgs []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }
func (l *lines) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

func TestGreetWholeAndLogged(t *testing.T) {
	log := &lines{}
	srv := &fast.Server{Service: fast.Greet, Message: []byte(greeting), Loops: 2, Logger: slog.New(log), LogConnections: true}
	addr, errc := start(t, srv)
	const clients = 200
	for i := range clients {
		c := dial(t, addr)
		if i%2 == 1 {
			// A client that speaks first must still get the whole
			// greeting and a clean end, not a reset.
			if _, err := c.Write([]byte("hello\n")); err != nil {
				t.Fatal(err)
			}
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if string(got) != greeting {
			t.Fatalf("client %d got %q", i, got)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("client %d: half-close after the greeting: %v", i, err)
		}
		c.Close()
	}
	if err := srv.Shutdown(testutil.Context(t, 10*time.Second)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	// WaitDial's probe connections are logged too.
	if n := log.count("Got connection from 127.0.0.1:"); n < clients {
		t.Fatalf("%d connection lines, want at least %d", n, clients)
	}
}

func TestGreetLongMessage(t *testing.T) {
	// Larger than a fresh socket's send buffer: the rest is written by the
	// hand-off goroutine.
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	srv := &fast.Server{Service: fast.Greet, Message: msg}
	addr, _ := start(t, srv)
	c := dial(t, addr)
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %d bytes, want %d", len(got), len(msg))
	}
}

// echoRoundTrip sends size random bytes, half-closes, and checks that the
// same bytes come back followed by the server's end.
func echoRoundTrip(t *testing.T, addr string, size int) {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	data := make([]byte, size)
	rand.Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("read echo: %v", err)
		return
	}
	if err := <-werr; err != nil {
		t.Errorf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("echo of %d bytes came back as %d different bytes", size, len(got))
	}
}

func TestEchoByteExactWithHalfClose(t *testing.T) {
	srv := &fast.Server{Service: fast.Echo, Loops: 2}
	addr, _ := start(t, srv)
	var wg sync.WaitGroup
	for _, size := range []int{0, 1, 1000, 64 << 10, 1 << 20, 8 << 20} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			echoRoundTrip(t, addr, size)
		}()
	}
	wg.Wait()
	testutil.Eventually(t, 5*time.Second, "no active connections", func() bool { return srv.ActiveConns() == 0 })
}

func TestEchoSlowReader(t *testing.T) {
	srv := &fast.Server{Service: fast.Echo, Loops: 1}
	addr, _ := start(t, srv)
	slow := dial(t, addr)
	defer slow.Close()
	// Fill both directions' buffers without reading: the server must hold
	// back, not block the loop or drop bytes.
	data := make([]byte, 16<<20)
	rand.Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := slow.Write(data)
		if err == nil {
			err = slow.CloseWrite()
		}
		werr <- err
	}()
	// While the slow client is stuck, the others are served.
	echoRoundTrip(t, addr, 1000)
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := slow.Read(buf) // small reads: a slow reader
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("slow reader got %d bytes back, want the %d sent", got.Len(), len(data))
	}
}

func TestEchoSurvivesResets(t *testing.T) {
	log := &lines{}
	srv := &fast.Server{Service: fast.Echo, Loops: 2, Logger: slog.New(log)}
	addr, _ := start(t, srv)
	keep := dial(t, addr)
	defer keep.Close()
	for range 50 {
		c := dial(t, addr)
		c.Write(bytes.Repeat([]byte("x"), 100000))
		c.SetLinger(0) // close with a reset, unread echo pending
		c.Close()
	}
	// A client that half-closes and then vanishes.
	h := dial(t, addr)
	h.CloseWrite()
	h.Close()
	if _, err := keep.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(keep, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("surviving connection: %q, %v", buf, err)
	}
	testutil.Eventually(t, 5*time.Second, "reset connections closed", func() bool { return srv.ActiveConns() == 1 })
}

func TestDiscard(t *testing.T) {
	srv := &fast.Server{Service: fast.Discard}
	addr, _ := start(t, srv)
	c := dial(t, addr)
	defer c.Close()
	if _, err := c.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != 0 {
		t.Fatalf("discard answered %d bytes, %v", len(got), err)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := &fast.Server{Service: fast.Echo, IdleTimeout: 200 * time.Millisecond}
	addr, _ := start(t, srv)
	c := dial(t, addr)
	defer c.Close()
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("idle connection ended with %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}

func TestMaxConns(t *testing.T) {
	srv := &fast.Server{Service: fast.Echo, MaxConns: 2, Loops: 1}
	addr, _ := start(t, srv)
	testutil.Eventually(t, 5*time.Second, "probe closed", func() bool { return srv.ActiveConns() == 0 })
	a, b := dial(t, addr), dial(t, addr)
	defer a.Close()
	defer b.Close()
	for _, c := range []*net.TCPConn{a, b} {
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
	}
	over := dial(t, addr)
	defer over.Close()
	if n, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the connection over --max-conns was served (%d bytes)", n)
	}
}

func TestShutdownDrainsThenRefuses(t *testing.T) {
	srv := &fast.Server{Service: fast.Echo, Loops: 2}
	addr, errc := start(t, srv)
	c := dial(t, addr)
	defer c.Close()
	c.Write([]byte("a"))
	io.ReadFull(c, make([]byte, 1))

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(testutil.Context(t, 10*time.Second)) }()
	testutil.Eventually(t, 5*time.Second, "new connections refused", func() bool {
		n, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		n.Close()
		return false
	})
	// The connection in flight is still served, and ends Shutdown when it
	// ends.
	if _, err := c.Write([]byte("bc")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "bc" {
		t.Fatalf("in-flight echo during shutdown: %q, %v", got, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

func TestShutdownGraceRunsOut(t *testing.T) {
	srv := &fast.Server{Service: fast.Echo}
	addr, _ := start(t, srv)
	c := dial(t, addr)
	defer c.Close()
	c.Write([]byte("a"))
	io.ReadFull(c, make([]byte, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("closed connection: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestLifecycleEdges(t *testing.T) {
	srv := &fast.Server{Service: fast.Echo}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	u, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&fast.Server{Service: fast.Echo}).Serve(u); !errors.Is(err, fast.ErrUnsupported) {
		t.Fatalf("Serve on a Unix listener: %v", err)
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := (&fast.Server{Service: fast.Greet}).Serve(ln2); err == nil {
		t.Fatal("Serve with an empty greeting did not fail")
	}
}

// TestGCWhileLoopWaits checks that a greeting loop blocked in its raw
// epoll_wait lets the runtime stop the world: each GC must finish while the
// loop waits for connections, and the server still greets afterwards.
func TestGCWhileLoopWaits(t *testing.T) {
	srv := &fast.Server{Service: fast.Greet, Message: []byte(greeting), Loops: 1}
	addr, _ := start(t, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			runtime.GC()
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("garbage collection stalled behind the waiting loop")
	}
	c := dial(t, addr)
	defer c.Close()
	if got, err := io.ReadAll(c); err != nil || string(got) != greeting {
		t.Fatalf("greeting after GC: %q, %v", got, err)
	}
}
