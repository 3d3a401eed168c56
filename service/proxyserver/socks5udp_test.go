package proxyserver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sockit/access"
	"sockit/internal/socksudp"
	"sockit/internal/testutil"
	"sockit/server"
	"sockit/server/servertest"
	"sockit/service/proxyserver"
)

// udpAssociate opens a control connection to the SOCKS5 server at proxy and
// asks for a UDP association announcing the datagram source announce. It
// returns the control connection and the relay's address.
func udpAssociate(t *testing.T, proxy string, announce netip.AddrPort) (net.Conn, netip.AddrPort) {
	t.Helper()
	ctrl, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	ctrl.SetDeadline(time.Now().Add(5 * time.Second))
	req := []byte{5, 1, 0, 5, 3, 0, 1}
	req = append(req, announce.Addr().Unmap().AsSlice()...)
	req = binary.BigEndian.AppendUint16(req, announce.Port())
	if _, err := ctrl.Write(req); err != nil {
		t.Fatal(err)
	}
	var reply [2 + 10]byte
	if _, err := io.ReadFull(ctrl, reply[:]); err != nil {
		t.Fatalf("UDP ASSOCIATE reply: %v", err)
	}
	if !bytes.Equal(reply[:2], []byte{5, 0}) || reply[2+1] != 0 || reply[2+3] != 1 {
		t.Fatalf("UDP ASSOCIATE reply % x", reply)
	}
	ip, _ := netip.AddrFromSlice(reply[2+4 : 2+8])
	ctrl.SetDeadline(time.Time{})
	return ctrl, netip.AddrPortFrom(ip, binary.BigEndian.Uint16(reply[2+8:]))
}

// datagram is a client datagram to host:port.
func datagram(host string, port uint16, payload string) []byte {
	b, err := socksudp.Append(nil, host, port)
	if err != nil {
		panic(err)
	}
	return append(b, payload...)
}

// udpClient is the client's datagram socket.
func udpClient(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends p to the relay and returns the answer's source and payload.
func exchange(t *testing.T, c *net.UDPConn, relay netip.AddrPort, p []byte) (netip.AddrPort, string) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(p, relay); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no answer through the relay: %v", err)
	}
	host, port, payload, err := socksudp.Parse(buf[:n])
	if err != nil {
		t.Fatalf("answer header: %v", err)
	}
	return netip.AddrPortFrom(netip.MustParseAddr(host), port), string(payload)
}

type mapResolver map[string]string

func (m mapResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ip, ok := m[host]; ok {
		return []netip.Addr{netip.MustParseAddr(ip)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestSOCKS5UDPAssociate(t *testing.T) {
	echo4 := testutil.UDPEcho(t, "127.0.0.1")
	proxy := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: proxyserver.Config{Resolver: mapResolver{"echo.test": "127.0.0.1"}}})
	c := udpClient(t)
	_, relay := udpAssociate(t, proxy, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))

	from, got := exchange(t, c, relay, datagram("127.0.0.1", echo4.Port(), "by address"))
	if from != echo4 || got != "by address" {
		t.Errorf("got %q from %v, want %q from %v", got, from, "by address", echo4)
	}
	from, got = exchange(t, c, relay, datagram("echo.test", echo4.Port(), "by name"))
	if from != echo4 || got != "by name" {
		t.Errorf("got %q from %v, want %q from %v", got, from, "by name", echo4)
	}
	big := strings.Repeat("x", 60000)
	if _, got = exchange(t, c, relay, datagram("127.0.0.1", echo4.Port(), big)); got != big {
		t.Errorf("a 60,000-byte datagram came back as %d bytes", len(got))
	}
	echo6 := testutil.UDPEcho(t, "::1")
	from, got = exchange(t, c, relay, datagram("::1", echo6.Port(), "over IPv6"))
	if from != echo6 || got != "over IPv6" {
		t.Errorf("got %q from %v, want %q from %v", got, from, "over IPv6", echo6)
	}
}

// Datagrams that must not pass are dropped, and the association keeps
// serving: a denied destination, a fragment, a bad header, and datagrams
// from another source than the client's.
func TestSOCKS5UDPDrops(t *testing.T) {
	echo := testutil.UDPEcho(t, "127.0.0.1")
	trap, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	trapPort := uint16(trap.LocalAddr().(*net.UDPAddr).Port)
	dests, err := access.ParseDestList([]string{"127.0.0.1:" + strconv.Itoa(int(echo.Port()))})
	if err != nil {
		t.Fatal(err)
	}
	proxy := servertest.ServeHandler(t, &proxyserver.SOCKS5{Config: proxyserver.Config{Dests: dests}})
	c := udpClient(t)
	other := udpClient(t)
	// The client announces its source port, so other, on the same IP, is
	// not the client.
	_, relay := udpAssociate(t, proxy, c.LocalAddr().(*net.UDPAddr).AddrPort())

	fragment := datagram("127.0.0.1", trapPort, "fragment")
	fragment[2] = 1
	for _, p := range [][]byte{
		datagram("127.0.0.1", trapPort, "denied"),
		fragment,
		{0, 0, 0, 9, 1, 2},
		{1},
	} {
		if _, err := c.WriteToUDPAddrPort(p, relay); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.WriteToUDPAddrPort(datagram("127.0.0.1", echo.Port(), "from another port"), relay); err != nil {
		t.Fatal(err)
	}
	// One goroutine relays the client's datagrams in order, and loopback
	// delivers at once: when this answer is back, the others were handled.
	if _, got := exchange(t, c, relay, datagram("127.0.0.1", echo.Port(), "allowed")); got != "allowed" {
		t.Fatalf("got %q, want %q", got, "allowed")
	}
	trap.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := trap.ReadFromUDPAddrPort(make([]byte, 100)); err == nil {
		t.Errorf("a denied or fragmented datagram reached its destination (%d bytes)", n)
	}
	other.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := other.ReadFromUDPAddrPort(make([]byte, 100)); err == nil {
		t.Errorf("a stranger's datagram was relayed (%d bytes came back)", n)
	}
}

// Only destinations the client sent to may answer through the relay: a
// datagram from anyone else to the relay's outer socket is dropped.
func TestSOCKS5UDPAnswersOnlyFromDestinations(t *testing.T) {
	spy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	spy.SetDeadline(time.Now().Add(5 * time.Second))
	spyAddr := spy.LocalAddr().(*net.UDPAddr).AddrPort()
	proxy := servertest.ServeHandler(t, &proxyserver.SOCKS5{})
	c := udpClient(t)
	_, relay := udpAssociate(t, proxy, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))

	if _, err := c.WriteToUDPAddrPort(datagram("127.0.0.1", spyAddr.Port(), "hello"), relay); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_, outer, err := spy.ReadFromUDPAddrPort(buf) // the relay's socket facing destinations
	if err != nil {
		t.Fatal(err)
	}
	stranger := udpClient(t)
	if _, err := stranger.WriteToUDPAddrPort([]byte("unsolicited"), outer); err != nil {
		t.Fatal(err)
	}
	if _, err := spy.WriteToUDPAddrPort([]byte("answer"), outer); err != nil {
		t.Fatal(err)
	}
	// The inner socket relays in arrival order: the stranger's datagram,
	// had it passed, would come first.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	host, port, payload, err := socksudp.Parse(buf[:n])
	if err != nil || string(payload) != "answer" || host != "127.0.0.1" || port != spyAddr.Port() {
		t.Fatalf("got %q from %s:%d (%v), want %q from the destination", payload, host, port, err, "answer")
	}
}

// The association ends with its control connection, and with its idle
// timeout.
func TestSOCKS5UDPEnds(t *testing.T) {
	for _, tt := range []struct {
		name   string
		idle   time.Duration
		reason server.ClosedReason
	}{
		{"control closed", 0, ""},
		{"idle", 200 * time.Millisecond, server.ReasonIdleTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s := &proxyserver.SOCKS5{Config: proxyserver.Config{IdleTimeout: tt.idle}}
			done := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- err
					return
				}
				defer c.Close()
				done <- s.ServeConn(context.Background(), c)
			}()
			ctrl, relay := udpAssociate(t, ln.Addr().String(), netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
			if tt.idle == 0 {
				ctrl.Close()
			}
			select {
			case err := <-done:
				if tt.idle == 0 && err != nil {
					t.Fatalf("ServeConn: %v", err)
				}
				if tt.idle != 0 && server.ReasonOf(err) != tt.reason {
					t.Fatalf("ServeConn: %v (reason %v), want reason %v", err, server.ReasonOf(err), tt.reason)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the association outlived its end")
			}
			// The relay's socket is closed: a datagram to it is refused.
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte{0, 0, 0, 1, 127, 0, 0, 1, 0, 7})
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("the relay socket still answers or is silent: %v", err)
			}
		})
	}
}
