//go:build linux

package fast_test

import (
	"io"
	"net"
	"testing"

	"sockit/server"
	"sockit/server/fast"
	"sockit/service"
)

// servers are the two server kinds behind the same service, so each
// benchmark compares the fast path with the general one.
func servers(svc fast.Service) map[string]func(b *testing.B) string {
	general := map[fast.Service]server.Handler{
		fast.Greet: service.Greet{Message: []byte(greeting)},
		fast.Echo:  service.Echo{},
	}[svc]
	serveOn := func(b *testing.B, srv interface {
		Serve(net.Listener) error
		Close() error
	}) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	return map[string]func(b *testing.B) string{
		"fast": func(b *testing.B) string {
			return serveOn(b, &fast.Server{Service: svc, Message: []byte(greeting)})
		},
		"general": func(b *testing.B) string {
			return serveOn(b, &server.Server{Handler: general})
		},
	}
}

// BenchmarkGreet measures the greeting's accept path: connect, read the
// greeting to the end, close; one client at a time.
func BenchmarkGreet(b *testing.B) {
	for _, kind := range []string{"fast", "general"} {
		b.Run(kind, func(b *testing.B) {
			addr := servers(fast.Greet)[kind](b)
			buf := make([]byte, 64)
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.ReadFull(c, buf[:len(greeting)])
				if err != nil || string(buf[:n]) != greeting {
					b.Fatalf("greeting %q: %v", buf[:n], err)
				}
				if _, err := c.Read(buf); err != io.EOF {
					b.Fatalf("after the greeting: %v", err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkEcho measures one echo round trip of 1 KiB on an open connection.
func BenchmarkEcho(b *testing.B) {
	for _, kind := range []string{"fast", "general"} {
		b.Run(kind, func(b *testing.B) {
			addr := servers(fast.Echo)[kind](b)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg := make([]byte, 1024)
			got := make([]byte, len(msg))
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
