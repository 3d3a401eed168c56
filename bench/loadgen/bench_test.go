package loadgen

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// benchGreet measures one worker's greeting operations against an
// in-process server, through the system-call path or the net package.
func benchGreet(b *testing.B, raw bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, DefaultGreeting)
			c.Close()
		}
	}()
	cfg := Config{Mode: Greet, Address: ln.Addr().String(), Count: int64(b.N), Timeout: 10 * time.Second}
	r := &run{cfg: cfg, start: time.Now(), kinds: map[string]int64{}}
	r.cfg.Expect = []byte(DefaultGreeting)
	r.dialer, _ = newDialer("tcp", cfg.Address, 0, cfg.Timeout)
	if raw {
		r.raw = newRawGreeter("tcp", cfg.Address, 0, cfg.Timeout)
		if r.raw == nil {
			b.Skip("no system-call path here")
		}
	}
	buf := make([]byte, 4096)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if raw {
			err = r.rawGreet(ctx, 0, buf, t0)
		} else {
			err = r.netGreet(ctx, 0, buf, t0)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGreetSyscall(b *testing.B) { benchGreet(b, true) }
func BenchmarkGreetNet(b *testing.B)     { benchGreet(b, false) }

// BenchmarkRelayCheck measures the relay mode's checking (CRC-32C of both
// directions) through a loopback echo, per byte.
func BenchmarkRelayCheck(b *testing.B) {
	ln := testutil.Serve(b, "tcp", "127.0.0.1:0", func(c net.Conn) {
		io.Copy(c, c)
	})
	const size = 8 << 20
	block := make([]byte, relayBlock)
	fillPattern(block, 1)
	buf := make([]byte, relayChunk)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if err := relayOnce(c, block, buf, size, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
