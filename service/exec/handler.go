package exec

import (
	"context"
	"errors"
	"net"
	"time"

	"sockit/relay"
	"sockit/server"
)

// Handler serves each connection with a fresh child running Command: what
// the client sends is the child's standard input, what the child writes to
// standard output goes to the client. The connection ends when the child's
// output ends (it exited or closed it), as with "ncat --exec"; the client
// half-closing closes the child's input.
type Handler struct {
	// Command is the program run for each connection.
	Command Command
	// Config configures the children.
	Config Config
	// IdleTimeout ends a connection when no byte has moved either way for
	// this long; zero never does.
	IdleTimeout time.Duration
}

var _ server.Handler = Handler{}

// ServeConn runs the child for conn and joins them.
func (h Handler) ServeConn(ctx context.Context, conn net.Conn) error {
	child, err := StartFor(h.Command, h.Config, conn)
	if err != nil {
		return server.WithReason(server.ReasonDialFailed, err)
	}
	_, err = relay.Pipe(ctx, conn, child, relay.Options{IdleTimeout: h.IdleTimeout, EndWithB: true})
	child.Close()
	if errors.Is(err, relay.ErrIdleTimeout) {
		return server.WithReason(server.ReasonIdleTimeout, err)
	}
	return err
}

// AttachPeer is server middleware that records each connection in its
// context (WithPeer), so that a Dialer started for it can describe it to the
// child.
func AttachPeer(next server.Handler) server.Handler {
	return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
		return next.ServeConn(WithPeer(ctx, conn), conn)
	})
}
