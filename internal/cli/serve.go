package cli

import (
	"context"
	"errors"
	"net"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"sockit/internal/escape"
	"sockit/middleware"
	"sockit/server"
	"sockit/service"
)

type serveOptions struct {
	listen   listenFlags
	service  serviceFlags
	greeting string
	echo     bool
	discard  bool
	fast     fastFlags
	flags    *pflag.FlagSet
}

func newServeCmd(env *Env) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [ADDRESS]",
		Short: "Greet every client (the tutorial's server), or echo or discard",
		Long: `Serve listens on ADDRESS (default :12345, TCP on all interfaces, IPv4 and
IPv6), sends every client the greeting "Thank you for connecting" and closes
the connection. Over UDP or a Unix datagram socket every datagram is answered
with the greeting. --echo and --discard choose the other services.

stderr gets one line when listening and one line per connection.`,
		Example: `  sockit serve
  sockit serve 127.0.0.1:0 --greeting 'hello\r\n'
  sockit serve udp://:12345 --echo
  sockit serve unix:///tmp/sockit.sock`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			return runServe(cmd.Context(), env, &o, arg)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.greeting, "greeting", service.DefaultGreeting, `text sent to each client; C escapes \n \r \t \xHH`)
	fs.BoolVar(&o.echo, "echo", false, "echo what each client sends, until it half-closes")
	fs.BoolVar(&o.discard, "discard", false, "read and drop what each client sends")
	o.listen.register(fs)
	o.service.register(fs)
	o.fast.register(fs)
	o.flags = fs
	return cmd
}

func (o *serveOptions) handler(ctx context.Context, env *Env) (server.Handler, error) {
	if h, err := o.service.handler(ctx, env, &o.listen); h != nil || err != nil {
		return h, err
	}
	if o.echo && o.discard {
		return nil, usagef("--echo and --discard cannot be combined")
	}
	switch {
	case o.echo:
		return service.Echo{IdleTimeout: o.listen.idleTimeout}, nil
	case o.discard:
		return service.Discard{IdleTimeout: o.listen.idleTimeout}, nil
	}
	msg, err := escape.Decode(o.greeting)
	if err != nil {
		return nil, usagef("--greeting: %w", err)
	}
	if len(msg) == 0 {
		return nil, usagef("--greeting: empty greeting")
	}
	return service.Greet{Message: msg}, nil
}

func runServe(ctx context.Context, env *Env, o *serveOptions, arg string) error {
	h, err := o.handler(ctx, env)
	if err != nil {
		return err
	}
	a, err := parseAddr(arg, ":12345")
	if err != nil {
		return err
	}
	if a.Network() == "" {
		return usagef("serve: cannot listen on %s", a)
	}
	fsrv, err := o.fastServer(h, a)
	if err != nil {
		return err
	}
	ln, mw, err := o.listenFor(ctx, env, a, fsrv != nil)
	if err != nil {
		return err
	}
	env.Logger.Info("listening on " + ln.Addr().String())
	if _, ok := ln.(*net.TCPListener); ok && fsrv != nil {
		return o.serveFast(ctx, env, fsrv, ln)
	}
	srv := &server.Server{
		Handler:  server.Chain(h, append(mw, middleware.LogConnections(env.Logger))...),
		Logger:   env.Logger,
		MaxConns: o.listen.maxConns,
	}
	return serveUntilSignal(ctx, env, srv, ln, o.listen.grace)
}

// errNotImplemented is returned by front ends whose work is still to come.
var errNotImplemented = errors.New("not implemented yet")
