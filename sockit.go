// Package sockit is the library face of the sockit socket toolkit: listen on
// and dial sockit address strings, serve connections, and join two
// connections full-duplex.
//
//	ln, _ := sockit.Listen(ctx, "udp://:12345")
//	srv := &server.Server{Handler: service.Greet{}}
//	srv.Serve(ln)
//
// Address strings use one syntax everywhere (see package addr): HOST:PORT,
// tcp://, udp://, unix:///path, unixgram:///path, - for stdio, and more.
// The packages below this one hold the parts: addr (syntax), endpoint
// (opening sockets), server (accept loop and shutdown), service (greet, echo,
// discard, forward) and relay (the full-duplex pipe).
package sockit

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/relay"
	"sockit/tlsconf"
)

// Listen listens on address, written in sockit's address syntax. Datagram
// addresses yield one connection per peer. A tls:// address serves TLS with a
// self-signed certificate made at start; use package tlsconf for your own.
func Listen(ctx context.Context, address string) (net.Listener, error) {
	a, err := addr.Parse(address)
	if err != nil {
		return nil, err
	}
	var c endpoint.Config
	if !a.IsTLS() {
		return c.Listen(ctx, a)
	}
	cert, err := tlsconf.SelfSigned(a.Host)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", a, err)
	}
	cfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{Certificates: tlsconf.Static{Cert: cert}})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", a, err)
	}
	ln, err := c.Listen(ctx, a.Transport())
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, cfg), nil
}

// Dial connects to address, written in sockit's address syntax.
func Dial(ctx context.Context, address string) (net.Conn, error) {
	a, err := addr.Parse(address)
	if err != nil {
		return nil, err
	}
	var c endpoint.Config
	if !a.IsTLS() {
		return c.Dial(ctx, a)
	}
	// TLS verifies the server against the system roots and the host dialed;
	// package tlsconf builds configurations with other trust.
	cfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{ServerName: a.Host})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", a, err)
	}
	conn, err := c.Dial(ctx, a.Transport())
	if err != nil {
		return nil, err
	}
	tc, err := tlsconf.Client(ctx, conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", a, err)
	}
	return tc, nil
}

// Join copies a to b and b to a until both directions end, passing each
// direction's end on as a half-close, then closes both. It returns the bytes
// moved each way. See relay.Pipe for the options.
func Join(ctx context.Context, a, b net.Conn) (relay.Stats, error) {
	return relay.Pipe(ctx, a, b, relay.Options{})
}
