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
	"net"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/relay"
)

// Listen listens on address, written in sockit's address syntax. Datagram
// addresses yield one connection per peer.
func Listen(ctx context.Context, address string) (net.Listener, error) {
	a, err := addr.Parse(address)
	if err != nil {
		return nil, err
	}
	var c endpoint.Config
	return c.Listen(ctx, a)
}

// Dial connects to address, written in sockit's address syntax.
func Dial(ctx context.Context, address string) (net.Conn, error) {
	a, err := addr.Parse(address)
	if err != nil {
		return nil, err
	}
	var c endpoint.Config
	return c.Dial(ctx, a)
}

// Join copies a to b and b to a until both directions end, passing each
// direction's end on as a half-close, then closes both. It returns the bytes
// moved each way. See relay.Pipe for the options.
func Join(ctx context.Context, a, b net.Conn) (relay.Stats, error) {
	return relay.Pipe(ctx, a, b, relay.Options{})
}
