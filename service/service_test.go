package service_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/relay"
	"sockit/server"
	"sockit/server/servertest"
	"sockit/service"
)

// serve starts h on a loopback TCP listener and returns its address.

func dial(t testing.TB, address string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestGreet(t *testing.T) {
	for _, tt := range []struct {
		msg, want string
	}{
		{"", service.DefaultGreeting},
		{"hi\r\n", "hi\r\n"},
	} {
		c := dial(t, servertest.ServeHandler(t, service.Greet{Message: []byte(tt.msg)}))
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != tt.want {
			t.Errorf("greeting %q, %v; want %q", got, err, tt.want)
		}
	}
}

func TestGreetSurvivesClientThatTalks(t *testing.T) {
	// A client that sends bytes the server never reads must still get the
	// whole greeting and a clean end, not a reset.
	c := dial(t, servertest.ServeHandler(t, service.Greet{}))
	c.Write([]byte(strings.Repeat("noise ", 1000)))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != service.DefaultGreeting {
		t.Fatalf("greeting %q, %v", got, err)
	}
}

func TestEchoUntilHalfClose(t *testing.T) {
	c := dial(t, servertest.ServeHandler(t, service.Echo{}))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := strings.Repeat("echo me ", 100000)
	go func() {
		io.WriteString(c, msg)
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("echo returned %d bytes, %v; want %d", len(got), err, len(msg))
	}
}

// TestIdleEchoHoldsOnlyItsSocket: an echo connection waiting for input
// holds its socket and no splice pipe (io.Copy would hold two more
// descriptors per connection).
func TestIdleEchoHoldsOnlyItsSocket(t *testing.T) {
	const conns = 50
	address := servertest.ServeHandler(t, service.Echo{})
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	for range conns {
		c := dial(t, address)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// One byte each way first, so that the echo has spliced once.
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Client and server sockets: 2 per connection. The pipe pool may keep
	// a few pipes, never one per idle connection.
	if extra := fds() - before - 2*conns; extra >= conns {
		t.Fatalf("%d idle echo connections hold %d descriptors besides their sockets", conns, extra)
	}
}

func TestEchoIdleTimeout(t *testing.T) {
	c := dial(t, servertest.ServeHandler(t, service.Echo{IdleTimeout: 100 * time.Millisecond}))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("idle echo connection did not end cleanly: %v", err)
	}
}

func TestDiscard(t *testing.T) {
	c := dial(t, servertest.ServeHandler(t, service.Discard{}))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, strings.Repeat("x", 1<<20))
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != 0 {
		t.Fatalf("discard answered %q, %v", got, err)
	}
}

func TestForward(t *testing.T) {
	target := servertest.ServeHandler(t, service.Echo{})
	var stats = make(chan relay.Stats, 1)
	front := servertest.ServeHandler(t, service.Forward{
		Dial: service.DialerFunc(func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", target)
		}),
		Done: func(_ net.Conn, s relay.Stats, _ error) { stats <- s },
	})
	c := dial(t, front)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "through")
	c.CloseWrite()
	got, _ := io.ReadAll(c)
	if string(got) != "through" {
		t.Fatalf("forwarded echo %q", got)
	}
	if s := <-stats; s.AToB != 7 || s.BToA != 7 {
		t.Fatalf("stats %+v", s)
	}
}

func TestForwardDialFailure(t *testing.T) {
	f := service.Forward{Dial: service.DialerFunc(func(context.Context) (net.Conn, error) {
		return nil, errors.New("connection refused")
	})}
	a, b := net.Pipe()
	defer b.Close()
	err := f.ServeConn(testutil.Context(t, 5*time.Second), a)
	if server.ReasonOf(err) != server.ReasonDialFailed {
		t.Fatalf("reason %s for %v, want dial-failed", server.ReasonOf(err), err)
	}
}

// BenchmarkGreet measures the greeting path end to end over loopback:
// connect, read the whole greeting, close.
func BenchmarkGreet(b *testing.B) {
	address := servertest.ServeHandler(b, service.Greet{})
	buf := make([]byte, 64)
	b.ResetTimer()
	for b.Loop() {
		c, err := net.Dial("tcp", address)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.ReadFull(c, buf[:len(service.DefaultGreeting)])
		if err != nil || n != len(service.DefaultGreeting) {
			b.Fatalf("read %d: %v", n, err)
		}
		c.Close()
	}
}

// BenchmarkGreetParallel is BenchmarkGreet with GOMAXPROCS clients at once.
func BenchmarkGreetParallel(b *testing.B) {
	address := servertest.ServeHandler(b, service.Greet{})
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, len(service.DefaultGreeting))
		for pb.Next() {
			c, err := net.Dial("tcp", address)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Error(err)
			}
			c.Close()
		}
	})
}
