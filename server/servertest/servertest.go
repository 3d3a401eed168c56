// Package servertest runs a server.Server on loopback for tests of the
// handlers, middleware and clients that stand on it.
package servertest

import (
	"errors"
	"log/slog"
	"net"
	"testing"

	"sockit/server"
)

// Serve runs srv on a new TCP listener on 127.0.0.1 until the test ends and
// returns the listener's address. A nil Logger discards the server's logs.
// At the end the server is closed, and Serve failing with anything but
// server.ErrServerClosed fails the test.
func Serve(t testing.TB, srv *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if srv.Logger == nil {
		srv.Logger = slog.New(slog.DiscardHandler)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve %s: %v", ln.Addr(), err)
		}
	})
	return ln.Addr().String()
}

// ServeHandler is Serve for a server with only h.
func ServeHandler(t testing.TB, h server.Handler) string {
	t.Helper()
	return Serve(t, &server.Server{Handler: h})
}
