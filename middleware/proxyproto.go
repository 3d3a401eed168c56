package middleware

import (
	"context"
	"errors"
	"net"
	"time"

	"sockit/endpoint/proxyheader"
	"sockit/server"
)

// ProxyProtocol requires every connection to start with a PROXY protocol
// header (v1 or v2) within timeout (proxyheader.DefaultTimeout when zero),
// and hands the next handler a connection whose RemoteAddr is the real
// client the header names, so access rules, logs and exec environments see
// it. A missing, late or malformed header refuses the connection with the
// reason, which the server logs. Place it first in the chain. Datagram
// sessions are refused: load balancers send the header on streams only.
func ProxyProtocol(timeout time.Duration) server.Middleware {
	return func(next server.Handler) server.Handler {
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			switch conn.LocalAddr().Network() {
			case "udp", "udp4", "udp6", "unixgram":
				return server.WithReason(server.ReasonProtocol, errors.New("PROXY protocol is supported on stream listeners only"))
			}
			pc, _, err := proxyheader.Accept(conn, timeout)
			if err != nil {
				return server.WithReason(server.ReasonProtocol, err)
			}
			return next.ServeConn(ctx, pc)
		})
	}
}

// clientKey is the context key of the accepted connection's addresses.
type clientKey struct{}

// ClientAddrs are the addresses of the connection a handler serves: the
// client's and the one it connected to.
type ClientAddrs struct {
	Remote, Local net.Addr
}

// RememberClient stores each connection's addresses in its context, where a
// dialer that sends a PROXY header on to the target finds them with
// ClientFrom.
func RememberClient() server.Middleware {
	return func(next server.Handler) server.Handler {
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			ctx = context.WithValue(ctx, clientKey{}, ClientAddrs{Remote: conn.RemoteAddr(), Local: conn.LocalAddr()})
			return next.ServeConn(ctx, conn)
		})
	}
}

// ClientFrom returns the addresses RememberClient stored in ctx.
func ClientFrom(ctx context.Context) (ClientAddrs, bool) {
	a, ok := ctx.Value(clientKey{}).(ClientAddrs)
	return a, ok
}
