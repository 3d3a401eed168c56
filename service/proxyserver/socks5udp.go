package proxyserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"sockit/internal/socksudp"
	"sockit/server"
)

// UDP ASSOCIATE (RFC 1928, section 7). The client asks on its TCP control
// connection; the server binds a UDP socket on the address the client
// reached it at and replies with that socket's address. The client then
// sends each datagram to that socket behind a header naming its
// destination; answers come back behind a header naming their source. The
// association lasts as long as the control connection.
//
// Two sockets per association: the client side is bound to the control
// connection's local address (where the client can reach it), the
// destination side to the wildcard address, so that a client on loopback can
// still reach destinations elsewhere.

const (
	cmdUDPAssociate = 0x03
	maxDatagram     = 64 << 10
	// udpNameCache bounds the destination names an association keeps
	// resolved; past it the cache starts again.
	udpNameCache = 64
	// udpPeers bounds the destinations an association remembers sending
	// to; past it the oldest half is forgotten at once (its answers are
	// dropped until the client sends there again).
	udpPeers = 1024
)

// association is one UDP ASSOCIATE: its two sockets and the client.
type association struct {
	ctx    context.Context // ends name lookups when the association ends
	cfg    *Config
	front  *net.UDPConn // faces the client
	back   *net.UDPConn // faces the destinations
	client netip.Addr   // the control connection's peer: datagrams from elsewhere are dropped
	// want is the client's datagram source once known: the port the
	// request named, else the first datagram's.
	mu    sync.Mutex
	want  netip.AddrPort
	peers map[netip.AddrPort]uint64 // destinations sent to, by when (a counter): only their answers pass
	sent  uint64
	names map[string][]netip.Addr // destination names resolved
	last  atomic.Int64            // unix nanoseconds of the last datagram relayed
}

// associate serves a UDP ASSOCIATE request on conn; host and port are the
// client's announced datagram source (zeros when it does not know it yet).
// Each association holds two UDP sockets and two goroutines.
func (s *SOCKS5) associate(ctx context.Context, conn net.Conn, host string, port uint16) error {
	local, lok := conn.LocalAddr().(*net.TCPAddr)
	remote, rok := conn.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		writeReply(conn, repCmdNotSupp, nil)
		return server.WithReason(server.ReasonProtocol, errors.New("socks5: UDP ASSOCIATE needs a TCP control connection"))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &association{ctx: ctx, cfg: &s.Config, client: remote.AddrPort().Addr().Unmap(),
		names: map[string][]netip.Addr{}, peers: map[netip.AddrPort]uint64{}}
	// The announced source counts only when it is the control connection's
	// IP (or unspecified): behind a NAT the client announces an address
	// the server never sees, and its first datagram tells the real one.
	if ip, err := netip.ParseAddr(host); err == nil && port != 0 && (ip.IsUnspecified() || ip.Unmap() == a.client) {
		a.want = netip.AddrPortFrom(a.client, port)
	}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: local.IP, Zone: local.Zone})
	if err != nil {
		writeReply(conn, repFailure, nil)
		return fmt.Errorf("socks5: UDP ASSOCIATE: %w", err)
	}
	back, err := net.ListenUDP("udp", nil)
	if err != nil {
		front.Close()
		writeReply(conn, repFailure, nil)
		return fmt.Errorf("socks5: UDP ASSOCIATE: %w", err)
	}
	a.front, a.back = front, back
	defer front.Close()
	defer back.Close()
	a.last.Store(time.Now().UnixNano())
	bound := front.LocalAddr().(*net.UDPAddr)
	if err := writeReply(conn, repSuccess, &net.TCPAddr{IP: bound.IP, Port: bound.Port}); err != nil {
		return fmt.Errorf("socks5: reply: %w", err)
	}

	// The control connection carries nothing more; its end (or the
	// server's) ends the association.
	ended := make(chan struct{})
	go func() {
		var b [512]byte // whatever the client sends here is dropped
		for {
			if _, err := conn.Read(b[:]); err != nil {
				break
			}
		}
		close(ended)
	}()
	var wg sync.WaitGroup
	wg.Go(a.outbound)
	wg.Go(a.inbound)
	err = a.wait(ctx, ended, s.IdleTimeout)
	cancel()
	conn.Close()
	front.Close()
	back.Close()
	wg.Wait()
	return err
}

// wait returns when the control connection ends, the context is done, or no
// datagram moved for idle (when idle is not zero).
func (a *association) wait(ctx context.Context, ended <-chan struct{}, idle time.Duration) error {
	var tick <-chan time.Time
	if idle > 0 {
		t := time.NewTicker(max(idle/4, 10*time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ended:
			return nil
		case <-ctx.Done():
			return nil
		case <-tick:
			if time.Since(time.Unix(0, a.last.Load())) >= idle {
				return server.WithReason(server.ReasonIdleTimeout, errors.New("socks5: UDP association idle"))
			}
		}
	}
}

// outbound relays the client's datagrams to their destinations. A datagram
// from another address, with a bad header, or to a destination the rules do
// not allow is dropped, as UDP drops.
func (a *association) outbound() {
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := a.front.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error reported on the socket; keep serving
		}
		if !a.fromClient(from) {
			continue
		}
		host, port, payload, err := socksudp.Parse(buf[:n])
		if err != nil {
			continue
		}
		dst, ok := a.destination(host, port)
		if !ok {
			continue
		}
		a.sentTo(dst)
		if _, err := a.back.WriteToUDPAddrPort(payload, dst); err == nil {
			a.last.Store(time.Now().UnixNano())
		}
	}
}

// inbound relays answers from destinations to the client, behind a header
// naming their source. Only destinations the client sent to may answer:
// the relay does not hand the client datagrams from anyone else.
func (a *association) inbound() {
	buf := make([]byte, maxDatagram)
	const room = 4 + 16 + 2 // the longest header of an IP address
	for {
		n, from, err := a.back.ReadFromUDPAddrPort(buf[room:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		a.mu.Lock()
		client := a.want
		_, known := a.peers[from]
		a.mu.Unlock()
		if !client.IsValid() || !known {
			continue
		}
		var hb [room]byte
		h := socksudp.AppendAddr(hb[:0], from)
		start := room - len(h)
		copy(buf[start:], h)
		if _, err := a.front.WriteToUDPAddrPort(buf[start:room+n], client); err == nil {
			a.last.Store(time.Now().UnixNano())
		}
	}
}

// fromClient reports whether a datagram from addr is the client's: from the
// control connection's IP and, once known, from its datagram port. The
// first datagram from that IP fixes the port when the request named none.
func (a *association) fromClient(addr netip.AddrPort) bool {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.want.IsValid() {
		return addr == a.want
	}
	if addr.Addr() != a.client {
		return false
	}
	a.want = addr
	return true
}

// sentTo records that the client sent to dst, so that dst may answer.
func (a *association) sentTo(dst netip.AddrPort) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent++
	if _, ok := a.peers[dst]; !ok && len(a.peers) >= udpPeers {
		cut := a.sent - udpPeers/2
		for p, when := range a.peers {
			if when < cut {
				delete(a.peers, p)
			}
		}
	}
	a.peers[dst] = a.sent
}

// destination resolves host (a name once per association) and applies the
// destination rules; it returns the first allowed address.
func (a *association) destination(host string, port uint16) (netip.AddrPort, bool) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip.Unmap()}
	} else if ips = a.names[host]; ips == nil {
		if ips = a.resolve(host); ips == nil {
			return netip.AddrPort{}, false
		}
		if len(a.names) >= udpNameCache {
			clear(a.names)
		}
		a.names[host] = ips
	}
	for _, ip := range ips {
		if ok, _ := a.cfg.Dests.Check(ip, port); ok {
			return netip.AddrPortFrom(ip, port), true
		}
	}
	return netip.AddrPort{}, false
}

// resolve looks host up within the dial timeout; nil when it cannot.
func (a *association) resolve(host string) []netip.Addr {
	res := a.cfg.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.dialTimeout())
	defer cancel()
	found, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil || len(found) == 0 {
		return nil
	}
	ips := make([]netip.Addr, len(found))
	for i, ip := range found {
		ips[i] = ip.Unmap()
	}
	return ips
}
