package via

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"sockit/internal/socksudp"
)

// DialUDP reaches target (HOST:PORT) over UDP through the SOCKS5 proxy p with
// UDP ASSOCIATE (RFC 1928, section 7): it opens the TCP control connection
// (with base, a zero net.Dialer when nil), asks for an association and
// returns a connection whose every Write is one datagram to target and
// every Read one datagram from it. Names are resolved by the proxy. The
// association, and the connection, end when either side closes the control
// connection.
//
// The client is written here: golang.org/x/net/proxy, sockit's SOCKS5
// client for CONNECT, has no UDP ASSOCIATE.
func DialUDP(ctx context.Context, base ContextDialer, p Proxy, target string) (net.Conn, error) {
	if p.Kind != SOCKS5 {
		return nil, fmt.Errorf("%s via %s: UDP goes through SOCKS5 proxies only", target, p)
	}
	host, port, err := splitTarget(ctx, "udp", target)
	if err != nil {
		return nil, err
	}
	hdr, err := socksudp.Append(nil, host, port)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	if base == nil {
		base = &net.Dialer{}
	}
	ctrl, err := base.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to proxy %s: %w", p, err)
	}
	var relayAddr netip.AddrPort
	_, err = within(ctx, ctrl, p, target, func() (net.Conn, error) {
		var aerr error
		relayAddr, aerr = associate(ctrl, p)
		return ctrl, aerr
	})
	if err != nil {
		ctrl.Close()
		return nil, err
	}
	udp, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relayAddr))
	if err != nil {
		ctrl.Close()
		return nil, fmt.Errorf("%s via %s: relay %s: %w", target, p, relayAddr, err)
	}
	c := &udpConn{ctrl: ctrl, udp: udp, hdr: hdr, target: udpTarget(target), port: port}
	c.ip, _ = netip.ParseAddr(host)
	go c.watch()
	return c, nil
}

// associate runs the SOCKS5 greeting, authentication and UDP ASSOCIATE
// request on ctrl and returns the relay's address.
func associate(ctrl net.Conn, p Proxy) (netip.AddrPort, error) {
	greeting := []byte{5, 1, 0}
	if p.HasAuth {
		greeting = []byte{5, 2, 0, 2}
	}
	if _, err := ctrl.Write(greeting); err != nil {
		return netip.AddrPort{}, err
	}
	var method [2]byte
	if _, err := io.ReadFull(ctrl, method[:]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read SOCKS5 greeting reply: %w", err)
	}
	switch {
	case method[0] != 5:
		return netip.AddrPort{}, fmt.Errorf("SOCKS5 greeting reply version %d", method[0])
	case method[1] == 2 && p.HasAuth:
		msg := append([]byte{1, byte(len(p.User))}, p.User...)
		msg = append(append(msg, byte(len(p.Password))), p.Password...)
		if _, err := ctrl.Write(msg); err != nil {
			return netip.AddrPort{}, err
		}
		var st [2]byte
		if _, err := io.ReadFull(ctrl, st[:]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("read SOCKS5 authentication reply: %w", err)
		}
		if st[1] != 0 {
			return netip.AddrPort{}, errors.New("username/password authentication failed")
		}
	case method[1] != 0:
		return netip.AddrPort{}, errors.New("no acceptable authentication methods")
	}
	// The datagrams' source is not known yet: 0.0.0.0:0.
	if _, err := ctrl.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return netip.AddrPort{}, err
	}
	var rep [4]byte
	if _, err := io.ReadFull(ctrl, rep[:]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read SOCKS5 reply: %w", err)
	}
	if rep[0] != 5 {
		return netip.AddrPort{}, fmt.Errorf("SOCKS5 reply version %d", rep[0])
	}
	if rep[1] != 0 {
		return netip.AddrPort{}, fmt.Errorf("UDP ASSOCIATE refused: %s", replyText(rep[1]))
	}
	var n int
	switch rep[3] {
	case 1:
		n = 4
	case 4:
		n = 16
	default:
		return netip.AddrPort{}, fmt.Errorf("SOCKS5 reply address type %d (want an IP address)", rep[3])
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(ctrl, b); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read SOCKS5 reply: %w", err)
	}
	ip, _ := netip.AddrFromSlice(b[:n])
	relay := netip.AddrPortFrom(ip.Unmap(), uint16(b[n])<<8|uint16(b[n+1]))
	if ip.IsUnspecified() {
		// "Bound to all addresses": the relay is where the proxy is.
		if ra, ok := ctrl.RemoteAddr().(*net.TCPAddr); ok {
			relay = netip.AddrPortFrom(ra.AddrPort().Addr().Unmap(), relay.Port())
		}
	}
	return relay, nil
}

// replyText names a SOCKS5 reply code (RFC 1928, section 6).
func replyText(code byte) string {
	texts := [...]string{1: "general failure", 2: "not allowed by the proxy's rules", 3: "network unreachable",
		4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported", 8: "address type not supported"}
	if int(code) < len(texts) && texts[code] != "" {
		return texts[code]
	}
	return "reply code " + strconv.Itoa(int(code))
}

// udpConn is a datagram connection through a SOCKS5 UDP relay.
type udpConn struct {
	ctrl   net.Conn     // the control connection; the association lives as long
	udp    *net.UDPConn // connected to the relay
	hdr    []byte       // the header of every datagram sent
	target udpTarget
	ip     netip.Addr // target's IP, when it is one: answers must come from it
	port   uint16

	rmu  sync.Mutex
	rbuf []byte
	wmu  sync.Mutex
	wbuf []byte
}

// watch closes the datagram socket when the control connection ends, so
// that a pending Read returns.
func (c *udpConn) watch() {
	var b [1]byte
	for {
		if _, err := c.ctrl.Read(b[:]); err != nil {
			c.udp.Close()
			return
		}
	}
}

// Read returns the payload of the next datagram from the target, dropping
// others (bad headers, other sources). A payload longer than p is cut, as
// on a UDP socket.
func (c *udpConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rbuf == nil {
		c.rbuf = make([]byte, 64<<10+socksudp.MaxHeader)
	}
	for {
		n, err := c.udp.Read(c.rbuf)
		if err != nil {
			return 0, err
		}
		host, port, payload, err := socksudp.Parse(c.rbuf[:n])
		if err != nil || port != c.port {
			continue
		}
		if c.ip.IsValid() {
			if ip, err := netip.ParseAddr(host); err != nil || ip != c.ip.Unmap() {
				continue
			}
		}
		return copy(p, payload), nil
	}
}

// Write sends p to the target as one datagram.
func (c *udpConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = append(append(c.wbuf[:0], c.hdr...), p...)
	if _, err := c.udp.Write(c.wbuf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the association.
func (c *udpConn) Close() error {
	err := c.udp.Close()
	c.ctrl.Close()
	return err
}

func (c *udpConn) LocalAddr() net.Addr                { return c.udp.LocalAddr() }
func (c *udpConn) RemoteAddr() net.Addr               { return c.target }
func (c *udpConn) SetDeadline(t time.Time) error      { return c.udp.SetDeadline(t) }
func (c *udpConn) SetReadDeadline(t time.Time) error  { return c.udp.SetReadDeadline(t) }
func (c *udpConn) SetWriteDeadline(t time.Time) error { return c.udp.SetWriteDeadline(t) }

// udpTarget is the address a udpConn reaches, perhaps a name.
type udpTarget string

func (a udpTarget) Network() string { return "udp" }
func (a udpTarget) String() string  { return string(a) }
