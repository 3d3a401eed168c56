package cli

import (
	"context"
	"net"

	"github.com/spf13/pflag"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/server"
)

// tlsListenFlags are the TLS options of listeners (to be built).
type tlsListenFlags struct{}

func (f *tlsListenFlags) register(fs *pflag.FlagSet) {}

func (f *tlsListenFlags) listen(ctx context.Context, env *Env, ep *endpoint.Config, a addr.Addr) (net.Listener, error) {
	return ep.Listen(ctx, a)
}

// tlsDialFlags are the TLS options of dialers (to be built).
type tlsDialFlags struct{}

func (f *tlsDialFlags) register(fs *pflag.FlagSet) {}

func (f *tlsDialFlags) wrap(ctx context.Context, env *Env, a addr.Addr, conn net.Conn) (net.Conn, error) {
	return conn, nil
}

// execServiceFlags serve each connection with a program (to be built).
type execServiceFlags struct{}

func (f *execServiceFlags) register(fs *pflag.FlagSet) {}

func (f *execServiceFlags) handler(ctx context.Context, env *Env, listen *listenFlags) (server.Handler, error) {
	return nil, nil
}
