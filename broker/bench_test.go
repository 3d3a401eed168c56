package broker

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/server"
)

// BenchmarkFanOut measures deliveries per second: one client sends 64-byte
// records, in 4 KiB writes or one record per write, and every other client
// receives them all. The 10,000-client run is bench/broker.sh (child
// processes; see docs/broker.md).
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, write := range []int{4096, 64} {
			b.Run(fmt.Sprintf("clients=%d/write=%d", n, write), func(b *testing.B) { benchFanOut(b, n, write) })
		}
	}
}

type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

func benchFanOut(b *testing.B, n, write int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	h := New(Config{ClientQueue: 1 << 16})
	srv := &server.Server{Handler: h}
	go srv.Serve(ln)
	defer func() { srv.Close(); h.Close() }()

	var received atomic.Int64
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		if i > 0 {
			go io.Copy(countWriter{&received}, c)
		}
	}
	testutil.Eventually(b, 10*time.Second, "clients joined", func() bool { return h.Clients() == n })

	const record = 64
	chunk := make([]byte, write)
	for i := range chunk {
		chunk[i] = 'x'
	}
	want := int64(b.N) * record * int64(n-1)
	b.SetBytes(record)
	b.ResetTimer()
	start := time.Now()
	for left := b.N * record; left > 0; left -= len(chunk) {
		if _, err := conns[0].Write(chunk[:min(left, len(chunk))]); err != nil {
			b.Fatal(err)
		}
	}
	testutil.Eventually(b, 5*time.Minute, "every record delivered", func() bool { return received.Load() >= want })
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(n-1)/elapsed.Seconds(), "deliveries/s")
}
