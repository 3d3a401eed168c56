package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// serve runs handle for every connection to a loopback listener until the
// test ends and returns the listener's address.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	return ln.Addr().String()
}

func greeter(msg string) func(net.Conn) {
	return func(c net.Conn) { io.WriteString(c, msg) }
}

// echoer echoes until the client half-closes, passing each chunk through
// mangle (which may change it or return an error to stop).
func echoer(mangle func(off int64, p []byte) error) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 64<<10)
		var off int64
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if mangle != nil {
					if merr := mangle(off, buf[:n]); merr != nil {
						return
					}
				}
				off += int64(n)
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
}

func run1(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx := testutil.Context(t, 60*time.Second)
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestGreetCountsEveryConnection(t *testing.T) {
	a := serve(t, greeter(DefaultGreeting))
	res := run1(t, Config{Mode: Greet, Address: a, Connections: 4, Count: 50})
	if res.Ops != 50 || res.Errors != 0 {
		t.Fatalf("ops %d errors %d (%v, %s), want 50 and 0", res.Ops, res.Errors, res.ErrorKinds, res.FirstError)
	}
	if res.Latency.Count != 50 || res.Latency.P50 <= 0 || res.Latency.P999 < res.Latency.P50 {
		t.Errorf("latency %+v", res.Latency)
	}
	if res.Rate <= 0 || res.Mode != "greet" || res.Connections != 4 {
		t.Errorf("result %+v", res)
	}
}

func TestGreetCatchesWrongGreetings(t *testing.T) {
	for _, tc := range []struct {
		name, sent string
		expect     []byte
		kind       string
	}{
		{"wrong bytes", "Thank you for connectinG\n", nil, KindMismatch},
		{"cut short", "Thank you", nil, KindEarlyEOF},
		{"too long", DefaultGreeting + "and more\n", nil, KindOverlong},
		{"empty", "", []byte{}, KindEarlyEOF},
		{"custom wanted", DefaultGreeting, []byte("hello\r\n"), KindMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := serve(t, greeter(tc.sent))
			res := run1(t, Config{Mode: Greet, Address: a, Connections: 2, Count: 6, Expect: tc.expect})
			if res.Ops != 0 || res.Errors != 6 || res.ErrorKinds[tc.kind] != 6 {
				t.Fatalf("ops %d errors %d kinds %v, want 6 %s", res.Ops, res.Errors, res.ErrorKinds, tc.kind)
			}
			if res.FirstError == "" {
				t.Error("no first error")
			}
		})
	}
}

func TestGreetAnyGreeting(t *testing.T) {
	a := serve(t, greeter("220 hello\r\n"))
	res := run1(t, Config{Mode: Greet, Address: a, Count: 3, Expect: []byte{}})
	if res.Ops != 3 || res.Errors != 0 {
		t.Fatalf("ops %d errors %v", res.Ops, res.ErrorKinds)
	}
}

func TestRefusedIsCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	res := run1(t, Config{Mode: Greet, Address: a, Count: 5})
	if res.ErrorKinds[KindRefused] != 5 || res.Ops != 0 {
		t.Fatalf("kinds %v ops %d, want 5 refused", res.ErrorKinds, res.Ops)
	}
}

func TestEcho(t *testing.T) {
	t.Run("exact", func(t *testing.T) {
		a := serve(t, echoer(nil))
		res := run1(t, Config{Mode: Echo, Address: a, Connections: 3, Count: 300, Size: 1000})
		if res.Ops != 300 || res.Errors != 0 || res.Bytes != 300*1000 || res.MaxOpen > 3 {
			t.Fatalf("ops %d errors %v bytes %d maxopen %d", res.Ops, res.ErrorKinds, res.Bytes, res.MaxOpen)
		}
	})
	t.Run("flipped byte", func(t *testing.T) {
		a := serve(t, echoer(func(off int64, p []byte) error {
			if off == 0 {
				p[len(p)-1] ^= 1
			}
			return nil
		}))
		res := run1(t, Config{Mode: Echo, Address: a, Count: 4, Size: 16})
		// Every failure reconnects, so every round trip is a first message.
		if res.ErrorKinds[KindMismatch] != 4 || res.Ops != 0 {
			t.Fatalf("kinds %v ops %d, want 4 mismatches", res.ErrorKinds, res.Ops)
		}
	})
	t.Run("closed early", func(t *testing.T) {
		a := serve(t, echoer(func(off int64, p []byte) error {
			if off > 0 {
				return io.EOF
			}
			return nil
		}))
		res := run1(t, Config{Mode: Echo, Address: a, Count: 10, Size: 8})
		// Each connection echoes one message, then fails the next one.
		if res.Ops != 5 || res.ErrorKinds[KindEarlyEOF]+res.ErrorKinds[KindReset] != 5 {
			t.Fatalf("ops %d kinds %v, want 5 ok and 5 early-eof", res.Ops, res.ErrorKinds)
		}
	})
	t.Run("stale echo", func(t *testing.T) {
		// A server that answers every message with the first one it got.
		a := serve(t, func(c net.Conn) {
			first := make([]byte, 16)
			if _, err := io.ReadFull(c, first); err != nil {
				return
			}
			c.Write(first)
			buf := make([]byte, 16)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write(first)
			}
		})
		res := run1(t, Config{Mode: Echo, Address: a, Count: 2, Size: 16})
		if res.Ops != 1 || res.ErrorKinds[KindMismatch] != 1 {
			t.Fatalf("ops %d kinds %v, want 1 ok, 1 mismatch", res.Ops, res.ErrorKinds)
		}
	})
}

func TestRelay(t *testing.T) {
	const size = 3<<20 + 7
	for _, tc := range []struct {
		name   string
		handle func(net.Conn)
		kind   string
	}{
		{"exact", echoer(nil), ""},
		{"corrupt", echoer(func(off int64, p []byte) error {
			if off <= 1<<20 && 1<<20 < off+int64(len(p)) {
				p[1<<20-off] ^= 0x80
			}
			return nil
		}), KindMismatch},
		{"truncated", echoer(func(off int64, p []byte) error {
			if off > 2<<20 {
				return io.EOF
			}
			return nil
		}), KindEarlyEOF},
		{"duplicated", func(c net.Conn) {
			echoer(func(off int64, p []byte) error {
				if off == 0 {
					c.Write(p[:1])
				}
				return nil
			})(c)
		}, KindOverlong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := serve(t, tc.handle)
			res := run1(t, Config{Mode: Relay, Address: a, Connections: 2, Count: 4, Size: size})
			if tc.kind == "" {
				if res.Ops != 4 || res.Errors != 0 || res.Bytes != 4*size || res.Gbps <= 0 {
					t.Fatalf("ops %d bytes %d errors %v (%s)", res.Ops, res.Bytes, res.ErrorKinds, res.FirstError)
				}
				return
			}
			// A server that closes with bytes unread resets the connection.
			n := res.ErrorKinds[tc.kind]
			if tc.kind == KindEarlyEOF {
				n += res.ErrorKinds[KindReset]
			}
			if res.Ops != 0 || n != 4 {
				t.Fatalf("ops %d kinds %v (%s), want %s", res.Ops, res.ErrorKinds, res.FirstError, tc.kind)
			}
		})
	}
}

func TestRelayWithoutHalfCloseTimesOut(t *testing.T) {
	// A server that echoes but never closes: the half-close was lost.
	hold := make(chan struct{})
	a := serve(t, func(c net.Conn) {
		echoer(nil)(c)
		<-hold
	})
	t.Cleanup(func() { close(hold) })
	res := run1(t, Config{Mode: Relay, Address: a, Count: 1, Size: 1 << 20, Timeout: 300 * time.Millisecond})
	if res.ErrorKinds[KindTimeout] != 1 {
		t.Fatalf("kinds %v, want 1 timeout", res.ErrorKinds)
	}
}

func TestIdleHoldsAndVerifies(t *testing.T) {
	var live atomic.Int64
	a := serve(t, func(c net.Conn) {
		live.Add(1)
		defer live.Add(-1)
		echoer(nil)(c)
	})
	var held int
	res := run1(t, Config{
		Mode: Idle, Address: a, Connections: 100, Duration: 10 * time.Millisecond, DialParallel: 8,
		Holding: func(open int) {
			held = open
			testutil.Eventually(t, 10*time.Second, "100 live server connections", func() bool { return live.Load() == 100 })
		},
	})
	if held != 100 || res.Ops != 100 || res.MaxOpen != 100 || res.Errors != 0 {
		t.Fatalf("held %d ops %d maxopen %d errors %v", held, res.Ops, res.MaxOpen, res.ErrorKinds)
	}
}

func TestIdleCatchesDeadConnections(t *testing.T) {
	var n atomic.Int64
	a := serve(t, func(c net.Conn) {
		if n.Add(1)%2 == 0 {
			return // closes every second connection at once
		}
		echoer(nil)(c)
	})
	res := run1(t, Config{Mode: Idle, Address: a, Connections: 10, Duration: time.Millisecond})
	if res.Ops != 5 || res.Errors != 5 {
		t.Fatalf("ops %d errors %v, want 5 and 5", res.Ops, res.ErrorKinds)
	}
}

func TestSourceIPs(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	a := serve(t, func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		mu.Lock()
		seen[host] = true
		mu.Unlock()
		io.WriteString(c, DefaultGreeting)
	})
	res := run1(t, Config{Mode: Greet, Address: a, Connections: 3, Count: 30, SourceIPs: 3})
	if res.Ops != 30 {
		t.Fatalf("ops %d kinds %v (%s)", res.Ops, res.ErrorKinds, res.FirstError)
	}
	mu.Lock()
	defer mu.Unlock()
	got := make([]string, 0, len(seen))
	for h := range seen {
		got = append(got, h)
	}
	slices.Sort(got)
	if want := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}; !slices.Equal(got, want) {
		t.Fatalf("source addresses %v, want %v", got, want)
	}
}

func TestSourceIPsNeedLoopbackIPv4(t *testing.T) {
	for _, a := range []string{"[::1]:80", "10.0.0.1:80", "localhost:80"} {
		if _, err := Run(context.Background(), Config{Address: a, SourceIPs: 2}); err == nil {
			t.Errorf("%s: no error", a)
		}
	}
}

func TestDurationBoundsTheLoad(t *testing.T) {
	a := serve(t, greeter(DefaultGreeting))
	t0 := time.Now()
	res := run1(t, Config{Mode: Greet, Address: a, Connections: 4, Duration: 200 * time.Millisecond})
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("a 200ms load took %v", d)
	}
	if res.Errors != 0 || res.Ops == 0 {
		t.Fatalf("ops %d errors %v (%s): the load's end must not count as errors", res.Ops, res.ErrorKinds, res.FirstError)
	}
}

func TestCancelStopsTheLoad(t *testing.T) {
	// A server that never answers: only the context can end the load.
	a := serve(t, func(c net.Conn) {
		var b [1]byte
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		c.Read(b[:])
	})
	ctx, cancel := context.WithCancel(testutil.Context(t, 30*time.Second))
	var progressed atomic.Bool
	res, err := Run(ctx, Config{
		Mode: Greet, Address: a, Connections: 2, Count: 1000,
		Progress: func(p Progress) {
			if p.Open == 2 {
				progressed.Store(true)
				cancel()
			}
		},
		ProgressInterval: time.Millisecond,
	})
	if err != nil || !progressed.Load() {
		t.Fatalf("err %v progressed %v", err, progressed.Load())
	}
	if res.Errors != 0 {
		t.Fatalf("cancelled operations counted as errors: %v", res.ErrorKinds)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); !errors.Is(err, ErrNoAddress) {
		t.Errorf("no address: %v", err)
	}
	if _, err := Run(context.Background(), Config{Address: "x:1", Mode: 9}); err == nil {
		t.Error("bad mode: no error")
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Greet, Echo, Relay, Idle} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("flood"); err == nil {
		t.Error("ParseMode(flood): no error")
	}
}
