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
			logger.Info("Got connection from " + conn.RemoteAddr().String())
			return next.ServeConn(ctx, conn)
		})
	}
}
