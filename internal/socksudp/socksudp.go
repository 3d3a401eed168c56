// Package socksudp reads and writes the header of SOCKS5 UDP datagrams
// (RFC 1928, section 7), which sockit's SOCKS5 server and its --via client
// both speak:
//
//	RSV (2 bytes, zero) | FRAG (1) | ATYP (1) | DST.ADDR | DST.PORT (2) | DATA
//
// No Go module implements UDP ASSOCIATE (golang.org/x/net/proxy covers
// CONNECT only), and the header is a few fixed fields, so it is written
// here.
package socksudp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// The address types.
const (
	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04
)

// MaxHeader is the longest header: a 255-byte host name.
const MaxHeader = 4 + 1 + 255 + 2

// ErrHeader is wrapped by errors in a datagram's header.
var ErrHeader = errors.New("bad SOCKS5 UDP header")

// Parse splits a datagram into the host and port its header names and its
// payload (which shares p's memory). The host is an IP address (IPv4-mapped
// addresses unmapped) or a name. Fragments (FRAG other than 0) are not
// supported and return an error, as RFC 1928 allows.
func Parse(p []byte) (host string, port uint16, payload []byte, err error) {
	if len(p) < 4 {
		return "", 0, nil, fmt.Errorf("%w: %d bytes", ErrHeader, len(p))
	}
	if p[0] != 0 || p[1] != 0 {
		return "", 0, nil, fmt.Errorf("%w: reserved bytes not zero", ErrHeader)
	}
	if p[2] != 0 {
		return "", 0, nil, fmt.Errorf("%w: fragment %d (fragments are not supported)", ErrHeader, p[2])
	}
	rest := p[4:]
	switch p[3] {
	case atypIPv4, atypIPv6:
		n := 4
		if p[3] == atypIPv6 {
			n = 16
		}
		if len(rest) < n+2 {
			return "", 0, nil, fmt.Errorf("%w: short address", ErrHeader)
		}
		ip, _ := netip.AddrFromSlice(rest[:n])
		host, rest = ip.Unmap().String(), rest[n:]
	case atypDomain:
		if len(rest) < 1 {
			return "", 0, nil, fmt.Errorf("%w: short address", ErrHeader)
		}
		n := int(rest[0])
		if len(rest) < 1+n+2 {
			return "", 0, nil, fmt.Errorf("%w: short address", ErrHeader)
		}
		if n == 0 {
			return "", 0, nil, fmt.Errorf("%w: empty host name", ErrHeader)
		}
		host, rest = string(rest[1:1+n]), rest[1+n:]
	default:
		return "", 0, nil, fmt.Errorf("%w: address type %d", ErrHeader, p[3])
	}
	return host, binary.BigEndian.Uint16(rest), rest[2:], nil
}

// AppendAddr appends the header of a datagram to or from ap.
func AppendAddr(b []byte, ap netip.AddrPort) []byte {
	ip := ap.Addr().Unmap()
	atyp := byte(atypIPv4)
	if ip.Is6() {
		atyp = atypIPv6
	}
	b = append(b, 0, 0, 0, atyp)
	b = append(b, ip.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

// Append appends the header of a datagram to host (an IP address or a
// name, for the proxy to resolve) and port. A name longer than 255 bytes is
// an error.
func Append(b []byte, host string, port uint16) ([]byte, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return AppendAddr(b, netip.AddrPortFrom(ip, port)), nil
	}
	if host == "" || len(host) > 255 {
		return nil, fmt.Errorf("%w: host name of %d bytes (want 1 to 255)", ErrHeader, len(host))
	}
	b = append(b, 0, 0, 0, atypDomain, byte(len(host)))
	b = append(b, host...)
	return binary.BigEndian.AppendUint16(b, port), nil
}
