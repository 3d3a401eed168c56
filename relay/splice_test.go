//go:build linux

package relay

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"sync"
	"testing"
)

// loopPair returns the two ends of a loopback TCP connection.
func loopPair(tb testing.TB) (*net.TCPConn, *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// through runs copyFn from the middle of writer -> [a copyFn b] -> reader,
// sends data and returns what came out.
func through(tb testing.TB, data []byte, copyFn func(dst, src net.Conn) (int64, error)) []byte {
	w, a := loopPair(tb)
	b, r := loopPair(tb)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.Write(data)
		w.CloseWrite()
	}()
	go func() {
		defer wg.Done()
		if _, err := copyFn(b, a); err != nil {
			tb.Error(err)
		}
		b.CloseWrite()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	wg.Wait()
	return got
}

func TestSpliceCopyByteExact(t *testing.T) {
	for _, size := range []int{0, 1, 4096, 1 << 20, 3<<20 + 17} {
		data := make([]byte, size)
		rand.Read(data)
		if got := through(t, data, Copy); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: got %d different bytes", size, len(got))
		}
	}
}

// fdCount returns the number of open descriptors of this process.
func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestIdleSpliceHoldsNoPipe checks that a direction waiting for input holds
// no pipe: io.Copy would hold two descriptors per waiting direction.
func TestIdleSpliceHoldsNoPipe(t *testing.T) {
	const pairs = 20
	before := fdCount(t)
	var ends []*net.TCPConn
	var wg sync.WaitGroup
	for range pairs {
		w, a := loopPair(t)
		b, r := loopPair(t)
		ends = append(ends, w, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			Copy(b, a)
		}()
		// One round trip first, so that the direction has used a pipe.
		w.Write([]byte("x"))
		io.ReadFull(r, make([]byte, 1))
	}
	// All directions are now idle, waiting for input.
	held := fdCount(t) - before - 4*pairs
	for _, c := range ends {
		c.Close()
	}
	wg.Wait()
	// The pool keeps a few pipes for the next busy direction, never one
	// per idle direction.
	if held >= 2*pairs {
		t.Fatalf("%d idle directions hold %d descriptors besides their sockets", pairs, held)
	}
	t.Logf("%d idle directions, %d descriptors besides their sockets (the pool's)", pairs, held)
}

// BenchmarkCopy compares ways to move a stream between two sockets:
// splice through a pooled pipe (what Pipe uses), io.Copy (the runtime's
// splice, holding its pipe) and userspace copies with large buffers.
func BenchmarkCopy(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<20/16)
	bufCopy := func(size int) func(dst, src net.Conn) (int64, error) {
		return func(dst, src net.Conn) (int64, error) {
			buf := make([]byte, size)
			// Hide ReaderFrom/WriterTo so that io.CopyBuffer copies
			// through buf.
			return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
		}
	}
	for _, tc := range []struct {
		name string
		fn   func(dst, src net.Conn) (int64, error)
	}{
		{"io.Copy", func(dst, src net.Conn) (int64, error) { return io.Copy(dst, src) }},
		{"splice-pooled-pipe", Copy},
		{"buffer-256KiB", bufCopy(256 << 10)},
		{"buffer-1MiB", bufCopy(1 << 20)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if got := through(b, data, tc.fn); len(got) != len(data) {
					b.Fatalf("moved %d of %d bytes", len(got), len(data))
				}
			}
		})
	}
}
