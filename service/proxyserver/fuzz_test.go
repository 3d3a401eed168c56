package proxyserver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sockit/access"
	"sockit/server"
	"sockit/service/proxyserver"
)

// memConn is a connection whose input is a fixed byte string and whose
// output is collected, so fuzzing runs without sockets.
type memConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (m *memConn) Read(p []byte) (int, error)         { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error)        { return m.out.Write(p) }
func (m *memConn) Close() error                       { return nil }
func (m *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1080} }
func (m *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555} }
func (m *memConn) SetDeadline(t time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }

// fuzzConfig dials nothing real: port 7 "connects" to an empty target,
// anything else is refused; destinations are limited to loopback.
func fuzzConfig(auth bool) proxyserver.Config {
	dests, _ := access.ParseDestList([]string{"127.0.0.0/8", "[::1]"})
	cfg := proxyserver.Config{
		Dests: dests,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if strings.HasSuffix(address, ":7") {
				return &memConn{r: bytes.NewReader(nil)}, nil
			}
			return nil, errors.New("connection refused")
		},
		Resolver: fuzzResolver{},
	}
	if auth {
		cfg.Auth = proxyserver.StaticAuth("user", "pass")
	}
	return cfg
}

type fuzzResolver struct{}

func (fuzzResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == "localhost" {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// FuzzSOCKS5 feeds arbitrary client bytes to the SOCKS5 server: it never
// panics or hangs, and every reply it writes starts with a SOCKS version
// byte.
func FuzzSOCKS5(f *testing.F) {
	f.Add([]byte("\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x07hello"), false)
	f.Add([]byte("\x05\x01\x00\x05\x01\x00\x03\x09localhost\x00\x07"), false)
	f.Add([]byte("\x05\x01\x02\x01\x04user\x04pass\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x07"), true)
	f.Add([]byte("\x05\x01\x00\x05\x02\x00\x01\x0a\x00\x00\x01\x00\x50"), false)
	f.Add([]byte("\x04\x01\x00\x50\x7f\x00\x00\x01\x00"), false)
	f.Add([]byte("\x05\x01\x00\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"), false)
	f.Fuzz(func(t *testing.T, in []byte, auth bool) {
		c := &memConn{r: bytes.NewReader(in)}
		s := &proxyserver.SOCKS5{Config: fuzzConfig(auth)}
		err := s.ServeConn(context.Background(), c)
		if out := c.out.Bytes(); len(out) > 0 && out[0] != 5 && out[0] != 1 {
			t.Fatalf("reply starts with %#x", out[0])
		}
		if err != nil && server.ReasonOf(err) == server.ReasonError && !errors.Is(err, io.EOF) {
			// Handshake failures are protocol errors, denials and failed
			// dials are named; only relay errors stay plain.
			if c.out.Len() == 0 {
				t.Fatalf("unclassified error before any reply: %v", err)
			}
		}
	})
}

// FuzzHTTPConnect feeds arbitrary client bytes to the HTTP CONNECT server:
// it never panics or hangs, and whatever it answers is an HTTP/1.1 status
// line.
func FuzzHTTPConnect(f *testing.F) {
	f.Add([]byte("CONNECT 127.0.0.1:7 HTTP/1.1\r\nHost: 127.0.0.1:7\r\n\r\nhi"), false)
	f.Add([]byte("CONNECT localhost:7 HTTP/1.1\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n"), true)
	f.Add([]byte("GET http://x/ HTTP/1.1\r\n\r\n"), false)
	f.Add([]byte("CONNECT [::1]:7 HTTP/1.0\r\n\r\n"), false)
	f.Add([]byte("CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, auth bool) {
		c := &memConn{r: bytes.NewReader(in)}
		h := &proxyserver.HTTPConnect{Config: fuzzConfig(auth)}
		h.ServeConn(context.Background(), c)
		if out := c.out.String(); out != "" && !strings.HasPrefix(out, "HTTP/1.1 ") {
			t.Fatalf("answer %q", out)
		}
	})
}
