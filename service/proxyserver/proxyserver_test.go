package proxyserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"sockit/access"
	"sockit/endpoint/via"
	"sockit/internal/testutil"
	"sockit/server"
	"sockit/server/servertest"
	"sockit/service"
	"sockit/service/proxyserver"
)

// echoTarget is the destination the proxies reach.
func echoTarget(t *testing.T) string {
	return servertest.ServeHandler(t, service.Echo{})
}

// roundTrip sends msg through conn, half-closes, and returns what came back.
func roundTrip(t *testing.T, conn net.Conn, msg string) string {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestViaThroughSockitProxies(t *testing.T) {
	target := echoTarget(t)
	auth := proxyserver.Config{Auth: proxyserver.StaticAuth("u", "p")}
	socks := servertest.ServeHandler(t, &proxyserver.SOCKS5{})
	socksAuth := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: auth})
	httpP := servertest.ServeHandler(t, &proxyserver.HTTPConnect{})
	httpAuth := servertest.ServeHandler(t, &proxyserver.HTTPConnect{Config: auth})
	_, tport, _ := net.SplitHostPort(target)
	tests := []struct {
		name   string
		chain  []string
		target string
	}{
		{"socks5", []string{"socks5://" + socks}, target},
		{"socks5 name", []string{"socks5h://" + socks}, "localhost:" + tport},
		{"socks5 auth", []string{"socks5://u:p@" + socksAuth}, target},
		{"http", []string{"http://" + httpP}, target},
		{"http auth", []string{"http://u:p@" + httpAuth}, target},
		{"chain", []string{"socks5://u:p@" + socksAuth, "http://u:p@" + httpAuth, "socks5://" + socks}, target},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testutil.Context(t, 10*time.Second)
			var chain []via.Proxy
			for _, s := range tt.chain {
				p, err := via.Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, p)
			}
			conn, err := via.Dial(ctx, nil, chain, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if got := roundTrip(t, conn, "ping through "+tt.name); got != "ping through "+tt.name {
				t.Fatalf("echo %q", got)
			}
		})
	}
}

func TestProxyRefusals(t *testing.T) {
	target := echoTarget(t)
	deny, _ := access.ParseDestList([]string{"10.0.0.0/8", "*:1-2"})
	socksAuth := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: proxyserver.Config{Auth: proxyserver.StaticAuth("u", "p")}})
	httpAuth := servertest.ServeHandler(t, &proxyserver.HTTPConnect{Config: proxyserver.Config{Auth: proxyserver.StaticAuth("u", "p")}})
	socksDeny := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: proxyserver.Config{Dests: deny}})
	httpDeny := servertest.ServeHandler(t, &proxyserver.HTTPConnect{Config: proxyserver.Config{Dests: deny}})
	tests := []struct {
		name  string
		proxy string
		want  string
	}{
		{"socks5 no auth", "socks5://" + socksAuth, "no acceptable authentication methods"},
		{"socks5 bad password", "socks5://u:x@" + socksAuth, "username/password authentication failed"},
		{"http no auth", "http://" + httpAuth, "407"},
		{"http bad password", "http://u:x@" + httpAuth, "407"},
		{"socks5 denied dest", "socks5://" + socksDeny, "not allowed"},
		{"http denied dest", "http://" + httpDeny, "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testutil.Context(t, 10*time.Second)
			p, err := via.Parse(tt.proxy)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := via.Dial(ctx, nil, []via.Proxy{p}, target)
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// Bytes a client sends right behind its CONNECT request reach the target.
func TestHTTPConnectEarlyData(t *testing.T) {
	target := echoTarget(t)
	p := servertest.ServeHandler(t, &proxyserver.HTTPConnect{})
	conn, err := net.Dial("tcp", p)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\nearly bytes")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(conn)
	if want := "HTTP/1.1 200 Connection established\r\n\r\nearly bytes"; string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
}

// A client that connects and sends nothing is dropped after the handshake
// timeout (slowloris).
func TestHandshakeTimeout(t *testing.T) {
	cfg := proxyserver.Config{HandshakeTimeout: 100 * time.Millisecond}
	for name, h := range map[string]server.Handler{"socks5": &proxyserver.SOCKS5{Config: cfg}, "http": &proxyserver.HTTPConnect{Config: cfg}} {
		t.Run(name, func(t *testing.T) {
			addr := servertest.ServeHandler(t, h)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "\x05") // one byte, then nothing
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			io.ReadAll(conn)
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("held for %v", d)
			}
		})
	}
}

// SOCKS4 and SOCKS4a against a minimal SOCKS4 server written in the test.
func TestViaSOCKS4(t *testing.T) {
	target := echoTarget(t)
	var mu sync.Mutex
	var requests [][]byte
	ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		br := bufio.NewReader(c)
		hdr := make([]byte, 8)
		io.ReadFull(br, hdr)
		user, _ := br.ReadBytes(0)
		req := append(hdr, user...)
		host := net.IP(hdr[4:8]).String()
		if bytes.Equal(hdr[4:7], []byte{0, 0, 0}) {
			name, _ := br.ReadBytes(0)
			req = append(req, name...)
			host = string(name[:len(name)-1])
		}
		mu.Lock()
		requests = append(requests, req)
		mu.Unlock()
		port := int(hdr[2])<<8 | int(hdr[3])
		tc, err := net.Dial("tcp", net.JoinHostPort(host, itoa(port)))
		if err != nil {
			c.Write([]byte{0, 0x5b, 0, 0, 0, 0, 0, 0})
			return
		}
		defer tc.Close()
		c.Write([]byte{0, 0x5a, 0, 0, 0, 0, 0, 0})
		go func() { io.Copy(tc, br); tc.(*net.TCPConn).CloseWrite() }()
		io.Copy(c, tc)
	})
	_, tport, _ := net.SplitHostPort(target)
	for _, tc := range []struct{ proxy, target string }{
		{"socks4://me@" + ln.Addr().String(), target},
		{"socks4a://" + ln.Addr().String(), "localhost:" + tport},
	} {
		p, err := via.Parse(tc.proxy)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := via.Dial(testutil.Context(t, 10*time.Second), nil, []via.Proxy{p}, tc.target)
		if err != nil {
			t.Fatalf("%s: %v", tc.proxy, err)
		}
		if got := roundTrip(t, conn, "four"); got != "four" {
			t.Fatalf("%s: echo %q", tc.proxy, got)
		}
		conn.Close()
	}
	mu.Lock()
	got := requests
	mu.Unlock()
	if len(got) != 2 || !bytes.Contains(got[0], []byte("me\x00")) || !bytes.HasSuffix(got[1], []byte("localhost\x00")) {
		t.Fatalf("requests %q", got)
	}
	// A refusal is reported.
	p, _ := via.Parse("socks4://" + ln.Addr().String())
	if _, err := via.Dial(testutil.Context(t, 10*time.Second), nil, []via.Proxy{p}, "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("refused SOCKS4 dial: %v", err)
	}
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// A context cancelled during a stalled handshake ends the dial.
func TestViaHandshakeHonoursContext(t *testing.T) {
	ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		io.Copy(io.Discard, c) // never answers
	})
	p, _ := via.Parse("http://" + ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := via.Dial(ctx, nil, []via.Proxy{p}, "127.0.0.1:80") // the proxy never answers; nothing is dialed
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

// Failures are answered in each protocol's terms: a refused destination is
// SOCKS5 reply 5 or HTTP 502; a method other than CONNECT is HTTP 405; a
// SOCKS4 client talking to the SOCKS5 server is dropped.
func TestProxyFailureAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	socks := servertest.ServeHandler(t, &proxyserver.SOCKS5{})
	httpP := servertest.ServeHandler(t, &proxyserver.HTTPConnect{})

	p, _ := via.Parse("socks5://" + socks)
	if _, err := via.Dial(testutil.Context(t, 10*time.Second), nil, []via.Proxy{p}, closed); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("socks5 to a closed port: %v", err)
	}
	p, _ = via.Parse("http://" + httpP)
	if _, err := via.Dial(testutil.Context(t, 10*time.Second), nil, []via.Proxy{p}, closed); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("http to a closed port: %v", err)
	}

	exchange := func(addr, send string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, send)
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if got := exchange(httpP, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 405 ") || !strings.Contains(got, "Allow: CONNECT") {
		t.Errorf("GET answered %q", got)
	}
	if got := exchange(httpP, "CONNECT nohost HTTP/1.1\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("CONNECT without a port answered %q", got)
	}
	if got := exchange(socks, "\x04\x01\x00\x50\x7f\x00\x00\x01\x00"); got != "" {
		t.Errorf("SOCKS4 request answered %q", got)
	}
	if got := exchange(socks, "\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50"); got != "\x05\x00\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00" {
		t.Errorf("BIND answered %q, want command not supported", got)
	}
}
