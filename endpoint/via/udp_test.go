package via_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sockit/endpoint/via"
	"sockit/internal/testutil"
	"sockit/server/servertest"
	"sockit/service/proxyserver"
)

type names map[string]string

func (m names) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ip, ok := m[host]; ok {
		return []netip.Addr{netip.MustParseAddr(ip)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// echoes writes msg and reads it back.
func echoes(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("read %d bytes (%v), want the %d sent", n, err, len(msg))
	}
}

func TestDialUDPThroughSockitSOCKS5(t *testing.T) {
	echo := testutil.UDPEcho(t, "127.0.0.1").String()
	_, port, _ := net.SplitHostPort(echo)
	cfg := proxyserver.Config{Auth: proxyserver.StaticAuth("u", "p"), Resolver: names{"echo.test": "127.0.0.1"}}
	proxy := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: cfg})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, target := range []string{echo, "echo.test:" + port} {
		c, err := via.DialUDP(ctx, nil, via.Proxy{Kind: via.SOCKS5, Addr: proxy, User: "u", Password: "p", HasAuth: true}, target)
		if err != nil {
			t.Fatalf("DialUDP %s: %v", target, err)
		}
		if c.LocalAddr().Network() != "udp" || c.RemoteAddr().String() != target {
			t.Errorf("addresses %v -> %v, want a udp socket to %s", c.LocalAddr(), c.RemoteAddr(), target)
		}
		echoes(t, c, "one")
		echoes(t, c, strings.Repeat("x", 60000))
		c.Close()
	}
}

func TestDialUDPErrors(t *testing.T) {
	open := servertest.ServeHandler(t, &proxyserver.SOCKS5{})
	authed := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: proxyserver.Config{Auth: proxyserver.StaticAuth("u", "p")}})
	// A SOCKS5 server that knows CONNECT only answers reply 7.
	connectOnly := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		buf := make([]byte, 3+10)
		io.ReadFull(c, buf[:3])
		c.Write([]byte{5, 0})
		io.ReadFull(c, buf[3:])
		c.Write([]byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0})
	})
	for _, tt := range []struct {
		name    string
		p       via.Proxy
		target  string
		wantErr string
	}{
		{"wrong password", via.Proxy{Kind: via.SOCKS5, Addr: authed, User: "u", Password: "x", HasAuth: true}, "127.0.0.1:9", "authentication failed"},
		{"no credentials", via.Proxy{Kind: via.SOCKS5, Addr: authed}, "127.0.0.1:9", "no acceptable authentication"},
		{"no UDP ASSOCIATE", via.Proxy{Kind: via.SOCKS5, Addr: connectOnly.Addr().String()}, "127.0.0.1:9", "command not supported"},
		{"not SOCKS5", via.Proxy{Kind: via.HTTP, Addr: open}, "127.0.0.1:9", "SOCKS5 proxies only"},
		{"long name", via.Proxy{Kind: via.SOCKS5, Addr: open}, strings.Repeat("n", 256) + ":9", "256 bytes"},
		{"bad port", via.Proxy{Kind: via.SOCKS5, Addr: open}, "127.0.0.1:nope", `bad port "nope"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := via.DialUDP(ctx, nil, tt.p, tt.target)
			if err == nil {
				c.Close()
				t.Fatal("DialUDP succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, tt.wantErr)
			}
		})
	}
}

// The connection ends when the proxy ends the association: a pending Read
// returns.
func TestDialUDPEndsWithAssociation(t *testing.T) {
	proxy := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: proxyserver.Config{IdleTimeout: 200 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := via.DialUDP(ctx, nil, via.Proxy{Kind: via.SOCKS5, Addr: proxy}, testutil.UDPEcho(t, "127.0.0.1").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 10)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Read after the association ended: %v, want a closed connection", err)
	}
}
