// Package proxyserver holds sockit's proxy services: a SOCKS5 server and an
// HTTP CONNECT server. Each is a server.Handler, so any listener, the access
// middleware and the PROXY protocol work in front of them, and each joins
// the client to its destination with relay.Pipe, sockit's one relay
// (half-close, idle timeout, splice).
package proxyserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"sockit/access"
)

// DefaultHandshakeTimeout bounds a client's greeting and request when
// Config.HandshakeTimeout is zero: slow clients cannot hold connections open
// without asking for anything.
const DefaultHandshakeTimeout = 10 * time.Second

// ErrDenied is wrapped when a destination is not allowed.
var ErrDenied = errors.New("destination not allowed")

// Config is what both proxy servers share. The zero value proxies to any
// destination without authentication.
type Config struct {
	// Auth, when not nil, requires clients to authenticate with a user
	// name and password it accepts.
	Auth func(user, password string) bool
	// Dests limits where clients may go; empty means anywhere.
	Dests access.DestList
	// Dial opens the connection to a destination (an IP:PORT); nil uses a
	// net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Resolver resolves destination names; nil uses net.DefaultResolver.
	Resolver access.Resolver
	// HandshakeTimeout bounds the client's request; zero means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// DialTimeout bounds connecting to the destination (and resolving a
	// UDP destination's name); zero means 10 s.
	DialTimeout time.Duration
	// IdleTimeout ends a tunnel idle this long; zero never does.
	IdleTimeout time.Duration
}

func (c *Config) handshakeTimeout() time.Duration {
	if c.HandshakeTimeout > 0 {
		return c.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (c *Config) dialTimeout() time.Duration {
	if c.DialTimeout > 0 {
		return c.DialTimeout
	}
	return 10 * time.Second
}

// dial resolves host, keeps the addresses the destination rules allow, and
// connects to the first that answers. A refusal by the rules returns an
// error wrapping ErrDenied that names the destination and the rule; the
// server logs it with the client's address.
func (c *Config) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	dest := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip.Unmap()}
	} else {
		res := c.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		ips, err = res.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	var allowed []netip.Addr
	rule := ""
	for _, ip := range ips {
		ok, r := c.Dests.Check(ip.Unmap(), port)
		rule = r
		if ok {
			allowed = append(allowed, ip.Unmap())
		}
	}
	if len(allowed) == 0 {
		return nil, fmt.Errorf("%w: %s (%s)", ErrDenied, dest, rule)
	}
	dial := c.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, c.dialTimeout())
	defer cancel()
	var firstErr error
	for _, ip := range allowed {
		conn, err := dial(ctx, "tcp", netip.AddrPortFrom(ip, port).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("connect %s: %w", dest, firstErr)
}
