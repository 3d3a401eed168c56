package cli

import (
	"context"
	"net"

	"github.com/spf13/pflag"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/server"
)

// The secure layer's command-line options, composed from two halves that live
// in their own files: TLS and exec (secure_tls.go), and proxies, PROXY
// protocol and access rules (secure_net.go).

// secureListenFlags are the listener options of the secure layer.
type secureListenFlags struct {
	tls   tlsListenFlags
	guard guardFlags
}

func (f *secureListenFlags) register(fs *pflag.FlagSet) {
	f.tls.register(fs)
	f.guard.register(fs)
}

// listen opens a's listener, with TLS when asked for.
func (f *secureListenFlags) listen(ctx context.Context, env *Env, ep *endpoint.Config, a addr.Addr) (net.Listener, error) {
	return f.tls.listen(ctx, env, ep, a)
}

// middleware returns the per-connection middleware (PROXY protocol, access
// rules, then the TLS handshake), in the order they run.
func (f *secureListenFlags) middleware(ctx context.Context, env *Env) ([]server.Middleware, error) {
	mw, err := f.guard.middleware(ctx, env)
	if err != nil {
		return nil, err
	}
	return append(mw, f.tls.middleware(env)...), nil
}

// secureDialFlags are the dial options of the secure layer.
type secureDialFlags struct {
	tls tlsDialFlags
	via viaFlags
}

func (f *secureDialFlags) register(fs *pflag.FlagSet) {
	f.tls.register(fs)
	f.via.register(fs)
}

// check reports a bad dial option for target a before anything listens or
// dials: a relay would otherwise report it only when its first client
// comes.
func (f *secureDialFlags) check(env *Env, a addr.Addr) error {
	if isCommand(a) {
		return nil
	}
	if _, err := f.tls.transport(env, a); err != nil {
		return err
	}
	return f.via.check(a)
}

// dial opens the transport to a (through proxies when --via is given), then
// runs the TLS handshake when a is a TLS address. exec: and sh: addresses
// start a program instead.
func (f *secureDialFlags) dial(ctx context.Context, env *Env, ep *endpoint.Config, a addr.Addr) (net.Conn, error) {
	if isCommand(a) {
		return f.tls.dialCommand(ctx, env, a)
	}
	transport, err := f.tls.transport(env, a)
	if err != nil {
		return nil, err
	}
	conn, err := f.via.dial(ctx, env, ep, transport)
	if err != nil {
		return nil, renameAddr(err, transport, a)
	}
	return f.tls.wrap(ctx, env, a, conn)
}

// serviceFlags choose a secure-layer service for serve (a SOCKS5 or HTTP
// CONNECT proxy, an exec'd program) instead of the greeting.
type serviceFlags struct {
	proxy proxyServiceFlags
	exec  execServiceFlags
}

func (f *serviceFlags) register(fs *pflag.FlagSet) {
	f.proxy.register(fs)
	f.exec.register(fs)
}

// handler returns the chosen service, or nil when none was chosen.
func (f *serviceFlags) handler(ctx context.Context, env *Env, listen *listenFlags) (server.Handler, error) {
	h, err := f.proxy.handler(ctx, env, listen)
	if h != nil || err != nil {
		return h, err
	}
	return f.exec.handler(ctx, env, listen)
}
