package foundation

import (
	"io"
	"net"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// BenchmarkServeGreeting measures the greeting path end to end: a client
// connects to a sockit serve child process and reads the greeting to the
// server's close. Run with -cpu to vary the client's parallelism.
func BenchmarkServeGreeting(b *testing.B) {
	// -q keeps the per-connection lines out of the measurement; it also
	// drops the "listening on" line, so the port is chosen here.
	address, _ := hostPort(freePort(b))
	start(b, nil, sockitBin(b), "serve", address, "-q")
	testutil.WaitDial(b, "tcp", address, 20*time.Second)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 64)
		for pb.Next() {
			c, err := net.Dial("tcp", address)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.ReadFull(c, buf[:len(greeting)])
			c.Close()
			if err != nil || string(buf[:n]) != greeting {
				b.Errorf("greeting %q, %v", buf[:n], err)
				return
			}
		}
	})
}

// BenchmarkRelayThroughput measures sockit relay's bulk path: b.N bytes
// through a sockit relay child process to a sink in the test process.
func BenchmarkRelayThroughput(b *testing.B) {
	ln := testutil.Serve(b, "tcp", "127.0.0.1:0", func(c net.Conn) {
		io.Copy(io.Discard, c)
	})
	_, address := sockit(b, "relay", "127.0.0.1:0", ln.Addr().String())
	c, err := net.Dial("tcp", address)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	chunk := make([]byte, 1<<20)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
