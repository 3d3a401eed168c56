package cli

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/server"
)

// listenFlags are the options of every command that listens (serve, relay,
// broker). The secure layer's listener options live in secureListen.
type listenFlags struct {
	backlog     int
	maxConns    int
	idleTimeout time.Duration
	grace       time.Duration
	secure      secureListenFlags
}

func (f *listenFlags) register(fs *pflag.FlagSet) {
	f.grace = 5 * time.Second
	fs.Var(countFlag{&f.backlog}, "backlog", "listen queue length (0: the system's maximum)")
	fs.Var(countFlag{&f.maxConns}, "max-conns", "serve at most N connections at once; refuse more (0: no limit)")
	fs.Var(durationFlag{&f.idleTimeout}, "idle-timeout", "close a connection idle this long (0: never; datagram sessions: 60s)")
	fs.Var(durationFlag{&f.grace}, "grace", "on SIGINT/SIGTERM, let connections finish for this long (a second signal stops at once)")
	f.secure.register(fs)
}

// dialFlags are the options of every command that dials (connect, relay).
type dialFlags struct {
	timeout time.Duration
	secure  secureDialFlags
}

func (f *dialFlags) register(fs *pflag.FlagSet) {
	f.timeout = 10 * time.Second
	fs.Var(durationFlag{&f.timeout}, "timeout", "give up connecting after this long (0: never)")
	f.secure.register(fs)
}

// parseAddr parses one command-line address, defaulting to def when arg is
// empty.
func parseAddr(arg, def string) (addr.Addr, error) {
	if arg == "" {
		arg = def
	}
	return addr.Parse(arg)
}

// listen opens a listener on a with the listen flags applied: the secure
// layer may wrap it (TLS) and contributes middleware (access rules, PROXY
// protocol) that runs before the connection log line.
func (f *listenFlags) listen(ctx context.Context, env *Env, a addr.Addr) (net.Listener, []server.Middleware, error) {
	ep := endpoint.Config{
		Backlog:        f.backlog,
		SessionTimeout: f.idleTimeout,
		Stdin:          env.Stdin,
		Stdout:         env.Stdout,
		Logger:         env.Logger,
	}
	ln, err := f.secure.listen(ctx, env, &ep, a)
	if err != nil {
		return nil, nil, err
	}
	mw, err := f.secure.middleware(ctx, env)
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return ln, mw, nil
}

// dialer returns a function that dials a with the dial flags applied.
func (f *dialFlags) dialer(env *Env, a addr.Addr) func(ctx context.Context) (net.Conn, error) {
	ep := endpoint.Config{
		DialTimeout: f.timeout,
		Stdin:       env.Stdin,
		Stdout:      env.Stdout,
		Logger:      env.Logger,
	}
	return func(ctx context.Context) (net.Conn, error) {
		return f.secure.dial(ctx, env, &ep, a)
	}
}

// servable is a server serveUntilSignal can run: *server.Server, or the
// plain-TCP fast server (*fast.Server).
type servable interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
	ActiveConns() int
}

// serveUntilSignal runs srv on ln until ctx ends (SIGINT or SIGTERM), then
// shuts it down, giving connections in flight the grace period.
func serveUntilSignal(ctx context.Context, env *Env, srv servable, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	env.Logger.Info("shutting down", "active", srv.ActiveConns(), "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		env.Logger.Warn("grace period over; closed remaining connections", "grace", grace)
	}
	<-errc
	return nil
}
