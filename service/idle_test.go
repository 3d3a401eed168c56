package service_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"sockit/server/servertest"
	"sockit/service"
)

// BenchmarkIdleForward measures what an idle relayed pair costs the relay
// in goroutine stacks and heap objects (reported as stack-B/pair and
// heap-B/pair): b.N pairs, each relayed one byte and then left idle. The
// echo server behind it runs in the same process, a goroutine per
// connection; its share is measured alone first and taken off.
func BenchmarkIdleForward(b *testing.B) {
	names := []string{"/memory/classes/heap/stacks:bytes", "/memory/classes/heap/objects:bytes"}
	read := func() [2]int64 {
		runtime.GC()
		s := make([]metrics.Sample, len(names))
		for i, n := range names {
			s[i].Name = n
		}
		metrics.Read(s)
		return [2]int64{int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())}
	}
	hold := func(address string, n int) []net.Conn {
		var cs []net.Conn
		for range n {
			c := dial(b, address)
			if _, err := c.Write([]byte("x")); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				b.Fatal(err)
			}
			cs = append(cs, c)
		}
		return cs
	}
	echo := servertest.ServeHandler(b, service.Echo{})
	var d net.Dialer
	relay := servertest.ServeHandler(b, service.Forward{Dial: service.DialerFunc(func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", echo)
	})})
	n := max(b.N, 100)
	m0 := read()
	hold(echo, n)
	m1 := read()
	hold(relay, n)
	m2 := read()
	echoStack, echoHeap := m1[0]-m0[0], m1[1]-m0[1]
	b.ReportMetric(float64(m2[0]-m1[0]-echoStack)/float64(n), "stack-B/pair")
	b.ReportMetric(float64(m2[1]-m1[1]-echoHeap)/float64(n), "heap-B/pair")
	b.ReportMetric(0, "ns/op")
}

// DialAside returns what the dialer returns, and a dialer's panic as an
// error instead of a crash.
func TestDialAside(t *testing.T) {
	want := errors.New("refused")
	if _, err := service.DialAside(context.Background(), service.DialerFunc(func(context.Context) (net.Conn, error) {
		return nil, want
	})); !errors.Is(err, want) {
		t.Errorf("error %v, want %v", err, want)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c, err := service.DialAside(context.Background(), service.DialerFunc(func(context.Context) (net.Conn, error) {
		return a, nil
	})); c != a || err != nil {
		t.Errorf("got %v, %v; want the dialer's connection", c, err)
	}
	if _, err := service.DialAside(context.Background(), service.DialerFunc(func(context.Context) (net.Conn, error) {
		panic("boom")
	})); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("a panicking dialer: %v", err)
	}
}
