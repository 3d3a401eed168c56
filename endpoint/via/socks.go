package via

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/net/proxy"
)

// socks5 runs x/net/proxy's SOCKS5 client over conn. Names are sent to the
// proxy unresolved, so the proxy resolves them (remote DNS).
func socks5(ctx context.Context, conn net.Conn, p Proxy, target string) (net.Conn, error) {
	var auth *proxy.Auth
	if p.HasAuth {
		auth = &proxy.Auth{User: p.User, Password: p.Password}
	}
	d, err := proxy.SOCKS5("tcp", p.Addr, auth, existing{conn})
	if err != nil {
		return nil, err
	}
	// The handshake runs on conn itself; x/net's wrapper only adds the bound
	// address, so the plain socket is returned, which can splice.
	if _, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", target); err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, err
	}
	return conn, nil
}

// existing is a proxy.ContextDialer that "dials" a connection already open.
type existing struct{ conn net.Conn }

func (e existing) Dial(network, addr string) (net.Conn, error) { return e.conn, nil }
func (e existing) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return e.conn, nil
}

// socks4 speaks SOCKS4 (the client resolves the name to IPv4) or SOCKS4a (the
// proxy resolves it). The protocol is one request and one 8-byte reply;
// x/net has no client for it.
func socks4(ctx context.Context, conn net.Conn, p Proxy, target string) (net.Conn, error) {
	host, port, err := splitTarget(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	name := ""
	switch {
	case err == nil && ip.Unmap().Is4():
		ip = ip.Unmap()
	case err == nil:
		return nil, fmt.Errorf("SOCKS4 cannot reach IPv6 address %s", host)
	case p.Kind == SOCKS4a:
		ip, name = netip.AddrFrom4([4]byte{0, 0, 0, 1}), host
	default:
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s for SOCKS4: %w", host, err)
		}
		ip = ips[0]
	}
	req := []byte{4, 1, 0, 0}
	binary.BigEndian.PutUint16(req[2:], uint16(port))
	a4 := ip.As4()
	req = append(req, a4[:]...)
	req = append(append(req, p.User...), 0)
	if name != "" {
		req = append(append(req, name...), 0)
	}
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	var rep [8]byte
	if _, err := io.ReadFull(conn, rep[:]); err != nil {
		return nil, fmt.Errorf("read SOCKS4 reply: %w", err)
	}
	if rep[0] != 0 {
		return nil, fmt.Errorf("bad SOCKS4 reply version %d", rep[0])
	}
	switch rep[1] {
	case 0x5a:
		return conn, nil
	case 0x5b:
		return nil, errors.New("SOCKS4 request rejected or failed")
	case 0x5c, 0x5d:
		return nil, errors.New("SOCKS4 request rejected: identd check failed")
	}
	return nil, fmt.Errorf("SOCKS4 reply code %#x", rep[1])
}

// splitTarget splits target (HOST:PORT) into its host and port number; the
// port may be a service name of network.
func splitTarget(ctx context.Context, network, target string) (string, uint16, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		pn, lerr := net.DefaultResolver.LookupPort(ctx, network, portStr)
		if lerr != nil {
			return "", 0, fmt.Errorf("bad port %q", portStr)
		}
		port = uint64(pn)
	}
	return host, uint16(port), nil
}
