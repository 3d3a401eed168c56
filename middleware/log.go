// Package middleware holds server.Middleware that every listener can use:
// connection logging here, and the access rules, limits and PROXY protocol
// handling beside it.
package middleware

import (
	"context"
	"log/slog"
	"net"

	"sockit/server"
)

// LogConnections logs one line per connection, naming the client's address
// and port in the seed's words: "Got connection from ADDR". Place it after
// middleware that learns the real client address (PROXY protocol), so the
// line names the real client.
func LogConnections(logger *slog.Logger) server.Middleware {
	return func(next server.Handler) server.Handler {
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			logger.Info("Got connection from " + clientName(conn))
			return next.ServeConn(ctx, conn)
		})
	}
}

// clientName names conn's client. A Unix socket client usually has no name
// (the kernel reports "" or "@"): it is then named by the socket it reached.
func clientName(conn net.Conn) string {
	ra := conn.RemoteAddr()
	if ra == nil {
		return "an unknown client"
	}
	if ua, ok := ra.(*net.UnixAddr); ok && (ua.Name == "" || ua.Name == "@") {
		if la := conn.LocalAddr(); la != nil && la.String() != "" {
			return "a client on " + la.String()
		}
		return "an unnamed Unix socket client"
	}
	return ra.String()
}
