package cli

import (
	"context"
	"net"

	"github.com/spf13/pflag"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/server"
)

// guardFlags are the access rules and PROXY protocol options of listeners
// (to be built).
type guardFlags struct{}

func (f *guardFlags) register(fs *pflag.FlagSet) {}

func (f *guardFlags) middleware(ctx context.Context, env *Env) ([]server.Middleware, error) {
	return nil, nil
}

// viaFlags route dials through SOCKS and HTTP CONNECT proxies (to be built).
type viaFlags struct{}

func (f *viaFlags) register(fs *pflag.FlagSet) {}

func (f *viaFlags) dial(ctx context.Context, env *Env, ep *endpoint.Config, a addr.Addr) (net.Conn, error) {
	return ep.Dial(ctx, a)
}

// proxyServiceFlags make serve a SOCKS5 or HTTP CONNECT proxy (to be built).
type proxyServiceFlags struct{}

func (f *proxyServiceFlags) register(fs *pflag.FlagSet) {}

func (f *proxyServiceFlags) handler(ctx context.Context, env *Env, listen *listenFlags) (server.Handler, error) {
	return nil, nil
}
