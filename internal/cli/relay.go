package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"sockit/addr"
	"sockit/middleware"
	"sockit/relay"
	"sockit/server"
	"sockit/service"
)

type relayOptions struct {
	listen listenFlags
	dial   dialFlags
}

func newRelayCmd(env *Env) *cobra.Command {
	var o relayOptions
	cmd := &cobra.Command{
		Use:   "relay FROM TO",
		Short: "Listen on FROM and join each connection to a fresh connection to TO",
		Long: `Relay listens on FROM and, for each connection, dials TO and joins the two
full-duplex: each direction's half-close is passed on, bytes are counted both
ways, and between sockets the kernel moves them without copying (splice).

FROM and TO are any addresses: TCP to a Unix socket, UDP to UDP (one session
per peer), '-' for stdin/stdout. A failed dial of TO closes that client with a
logged reason; the relay keeps serving.`,
		Example: `  sockit relay :8080 127.0.0.1:80
  sockit relay tcp://:2222 unix:///run/app.sock
  sockit relay udp://:5353 udp://127.0.0.1:53
  sockit relay - tcp://example.com:80`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRelay(cmd.Context(), env, &o, args[0], args[1])
		},
	}
	fs := cmd.Flags()
	o.listen.register(fs)
	o.dial.register(fs)
	return cmd
}

func runRelay(ctx context.Context, env *Env, o *relayOptions, fromArg, toArg string) error {
	from, err := addr.Parse(fromArg)
	if err != nil {
		return err
	}
	to, err := addr.Parse(toArg)
	if err != nil {
		return err
	}
	if err := o.dial.secure.check(env, to); err != nil {
		return err
	}
	dial := o.dial.dialer(env, to)
	if from.Scheme == addr.Stdio {
		// One "connection": the terminal itself.
		conn, err := dial(ctx)
		if err != nil {
			return err
		}
		return joinStdio(ctx, env, conn, o.listen.idleTimeout)
	}
	ln, mw, err := o.listen.listen(ctx, env, from)
	if err != nil {
		return err
	}
	env.Logger.Info("listening on "+ln.Addr().String(), "to", to.String())
	fwd := service.Forward{
		Dial:        service.DialerFunc(dial),
		IdleTimeout: o.listen.idleTimeout,
		Done: func(c net.Conn, st relay.Stats, err error) {
			env.Logger.Info("relay done", "remote", c.RemoteAddr().String(), "sent", st.AToB, "received", st.BToA)
		},
	}
	if to.Scheme == addr.Stdio {
		return relayOnceToStdio(ctx, env, ln, mw, o.listen.idleTimeout)
	}
	srv := &server.Server{
		Handler:  server.Chain(fwd, append(mw, middleware.LogConnections(env.Logger))...),
		Logger:   env.Logger,
		MaxConns: o.listen.maxConns,
	}
	return serveUntilSignal(ctx, env, srv, ln, o.listen.grace)
}

// relayOnceToStdio serves a single connection when TO is the terminal, as
// "nc -l" does: stdin and stdout cannot be shared by several clients.
func relayOnceToStdio(ctx context.Context, env *Env, ln net.Listener, mw []server.Middleware, idle time.Duration) error {
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	conn, err := ln.Accept()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
	}
	ln.Close()
	join := server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		return joinStdio(ctx, env, c, idle)
	})
	h := server.Chain(join, append(mw, middleware.LogConnections(env.Logger))...)
	err = h.ServeConn(ctx, conn)
	conn.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
