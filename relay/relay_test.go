package relay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/relay"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// relayed sets up outerA <-> [a Pipe b] <-> outerB and returns the outer
// ends and the Pipe's result.
func relayed(t testing.TB, ctx context.Context, opt relay.Options) (outerA, outerB *net.TCPConn, result <-chan pipeResult) {
	outerA, a := tcpPair(t)
	b, outerB := tcpPair(t)
	done := make(chan pipeResult, 1)
	go func() {
		st, err := relay.Pipe(ctx, a, b, opt)
		done <- pipeResult{st, err}
	}()
	return outerA, outerB, done
}

type pipeResult struct {
	stats relay.Stats
	err   error
}

// send writes n pseudo-random bytes to w, half-closes it and returns their
// SHA-256.
func send(w *net.TCPConn, n int64, seed uint64) [32]byte {
	h := sha256.New()
	r := io.LimitReader(rand.NewChaCha8([32]byte{byte(seed)}), n)
	io.Copy(io.MultiWriter(w, h), r)
	w.CloseWrite()
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func receive(r io.Reader) ([32]byte, int64) {
	h := sha256.New()
	n, _ := io.Copy(h, r)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n
}

func TestPipeBothWaysWithHalfClose(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	outerA, outerB, result := relayed(t, ctx, relay.Options{})
	defer outerA.Close()
	defer outerB.Close()
	const ab, ba = 8 << 20, 3 << 20

	type got struct {
		sum [32]byte
		n   int64
	}
	atB, atA := make(chan got, 1), make(chan got, 1)
	go func() { s, n := receive(outerB); atB <- got{s, n} }()
	go func() { s, n := receive(outerA); atA <- got{s, n} }()
	// A sends and half-closes first; B keeps sending after seeing A's EOF
	// would be visible only if the half-close was passed on.
	sentAB := send(outerA, ab, 1)
	gb := <-atB // B saw A's half-close: its read ended
	if gb.n != ab || gb.sum != sentAB {
		t.Fatalf("a->b: %d bytes, sum match %v", gb.n, gb.sum == sentAB)
	}
	sentBA := send(outerB, ba, 2)
	ga := <-atA
	if ga.n != ba || ga.sum != sentBA {
		t.Fatalf("b->a after a's half-close: %d bytes, sum match %v", ga.n, ga.sum == sentBA)
	}
	r := <-result
	if r.err != nil || r.stats.AToB != ab || r.stats.BToA != ba {
		t.Fatalf("Pipe = %+v, %v", r.stats, r.err)
	}
}

func TestPipeIdleTimeout(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	outerA, outerB, result := relayed(t, ctx, relay.Options{IdleTimeout: 100 * time.Millisecond})
	defer outerA.Close()
	defer outerB.Close()
	outerA.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(outerB, buf); err != nil {
		t.Fatal(err)
	}
	r := <-result
	if !errors.Is(r.err, relay.ErrIdleTimeout) {
		t.Fatalf("Pipe = %v, want ErrIdleTimeout", r.err)
	}
	if _, err := outerB.Read(buf); err == nil {
		t.Fatal("outer connection still open after idle timeout")
	}
}

func TestPipeIdleTimeoutSparedByOneWayTraffic(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	outerA, outerB, result := relayed(t, ctx, relay.Options{IdleTimeout: 150 * time.Millisecond})
	defer outerA.Close()
	defer outerB.Close()
	// b->a stays silent while a->b trickles for several idle windows.
	deadline := time.Now().Add(600 * time.Millisecond)
	buf := make([]byte, 1)
	ticker := time.NewTicker(30 * time.Millisecond)
	defer ticker.Stop()
	for time.Now().Before(deadline) {
		<-ticker.C
		if _, err := outerA.Write([]byte("t")); err != nil {
			t.Fatalf("write during one-way traffic: %v", err)
		}
		if _, err := io.ReadFull(outerB, buf); err != nil {
			t.Fatalf("relay cut a live one-way stream: %v", err)
		}
	}
	outerA.CloseWrite()
	outerB.CloseWrite()
	if r := <-result; r.err != nil {
		t.Fatalf("Pipe = %v", r.err)
	}
}

func TestPipeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(testutil.Context(t, 10*time.Second))
	outerA, outerB, result := relayed(t, ctx, relay.Options{})
	defer outerA.Close()
	defer outerB.Close()
	cancel()
	r := <-result
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Pipe = %v, want context.Canceled", r.err)
	}
}

func TestPipeEndWithB(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	outerA, outerB, result := relayed(t, ctx, relay.Options{EndWithB: true})
	defer outerA.Close()
	outerB.Write([]byte("bye"))
	outerB.Close() // b ends while a is still open
	got, _ := io.ReadAll(outerA)
	if !bytes.Equal(got, []byte("bye")) {
		t.Fatalf("a read %q", got)
	}
	if r := <-result; r.err != nil || r.stats.BToA != 3 {
		t.Fatalf("Pipe = %+v, %v", r.stats, r.err)
	}
}

func TestPipePeerReset(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	outerA, outerB, result := relayed(t, ctx, relay.Options{})
	defer outerA.Close()
	outerB.SetLinger(0)
	outerB.Close() // RST
	r := <-result
	// A reset ends the pipe; it must not hang, and a's side is closed.
	_ = r
	outerA.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(outerA); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("a was left open after b reset")
	}
}

// BenchmarkPipe measures the relay path: bytes through Pipe between two
// loopback TCP connections (splice when the runtime offers it).
func BenchmarkPipe(b *testing.B) {
	ctx := context.Background()
	outerA, outerB, result := relayed(b, ctx, relay.Options{})
	defer outerB.Close()
	block := make([]byte, 256<<10)
	b.SetBytes(int64(len(block)))
	drained := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, outerB)
		drained <- n
	}()
	b.ResetTimer()
	for b.Loop() {
		if _, err := outerA.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	outerA.CloseWrite()
	<-drained
	b.StopTimer()
	outerB.CloseWrite()
	outerA.Close()
	<-result
}
