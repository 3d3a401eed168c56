package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"sockit/access"
	"sockit/addr"
	"sockit/endpoint"
	"sockit/endpoint/proxyheader"
	"sockit/endpoint/via"
	"sockit/middleware"
	"sockit/server"
	"sockit/service/proxyserver"
)

// ruleResolveTimeout bounds resolving the host names of access rules at
// start.
const ruleResolveTimeout = 10 * time.Second

// guardFlags are the access rules and PROXY protocol options of listeners.
type guardFlags struct {
	allow, deny           []string
	allowFiles, denyFiles []string
	maxConnsPerIP         int
	rate                  string
	proxyProtocol         bool
	headerTimeout         time.Duration
}

func (f *guardFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.allow, "allow", nil, "admit only these sources: IP, CIDR or host name (repeatable; --deny still wins)")
	fs.StringArrayVar(&f.deny, "deny", nil, "refuse these sources: IP, CIDR or host name (repeatable)")
	fs.StringArrayVar(&f.allowFiles, "allow-file", nil, "read --allow entries from FILE, one per line, # comments")
	fs.StringArrayVar(&f.denyFiles, "deny-file", nil, "read --deny entries from FILE, one per line, # comments")
	fs.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", 0, "serve at most N connections at once from one source IP (0: no limit)")
	fs.StringVar(&f.rate, "rate", "", "admit at most N new connections per second from one source IP: N/s, N/m")
	fs.BoolVar(&f.proxyProtocol, "proxy-protocol", false, "require a PROXY protocol v1/v2 header and use the client address it names")
	fs.DurationVar(&f.headerTimeout, "header-timeout", 5*time.Second, "refuse a client whose PROXY header or proxy request takes longer")
}

func (f *guardFlags) middleware(ctx context.Context, env *Env) ([]server.Middleware, error) {
	if f.headerTimeout <= 0 {
		return nil, usagef("--header-timeout must be positive")
	}
	if f.maxConnsPerIP < 0 {
		return nil, usagef("--max-conns-per-ip must not be negative")
	}
	perSecond, err := parseRate(f.rate)
	if err != nil {
		return nil, usagef("--rate: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, ruleResolveTimeout)
	defer cancel()
	list, err := access.Build(rctx, nil, f.allow, f.deny, f.allowFiles, f.denyFiles)
	if err != nil {
		return nil, err
	}
	var mw []server.Middleware
	if f.proxyProtocol {
		mw = append(mw, middleware.ProxyProtocol(f.headerTimeout))
	}
	mw = append(mw,
		middleware.Allow(list),
		middleware.Rate(perSecond, 0),
		middleware.MaxConnsPerIP(f.maxConnsPerIP),
		middleware.RememberClient(),
	)
	return mw, nil
}

// parseRate parses "N/s", "N/m" or "N" (per second) into a per-second rate;
// empty means no limit.
func parseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || n > 1e9 {
		return 0, fmt.Errorf("%q: want a positive rate such as 10/s", s)
	}
	switch unit {
	case "", "s", "sec":
		return n, nil
	case "m", "min":
		return n / 60, nil
	}
	return 0, fmt.Errorf("%q: unit must be /s or /m", s)
}

// viaFlags route dials through SOCKS and HTTP CONNECT proxies and can send a
// PROXY protocol header to the target.
type viaFlags struct {
	via       []string
	sendProxy string
}

func (f *viaFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.via, "via", nil, "reach the target through a proxy: socks4://, socks4a://, socks5://[USER:PASS@]HOST:PORT, http://[USER:PASS@]HOST:PORT (repeat to chain)")
	fs.StringVar(&f.sendProxy, "send-proxy-protocol", "", "send a PROXY protocol header (v1 or v2) naming the client before any data")
}

// check reports a bad --via or --send-proxy-protocol for a target a
// before anything is dialed.
func (f *viaFlags) check(a addr.Addr) error {
	if f.sendProxy != "" {
		if _, err := proxyheader.ParseVersion(f.sendProxy); err != nil {
			return usagef("--send-proxy-protocol: %w", err)
		}
	}
	if len(f.via) == 0 {
		return nil
	}
	switch a.Scheme {
	case addr.TCP, addr.TCP4, addr.TCP6, addr.TLS, addr.TLS4, addr.TLS6:
	default:
		return usagef("--via reaches TCP addresses only, not %s", a)
	}
	for _, s := range f.via {
		if _, err := via.Parse(s); err != nil {
			return usagef("--via: %w", err)
		}
	}
	return nil
}

func (f *viaFlags) dial(ctx context.Context, env *Env, ep *endpoint.Config, a addr.Addr) (net.Conn, error) {
	var version byte
	if f.sendProxy != "" {
		v, err := proxyheader.ParseVersion(f.sendProxy)
		if err != nil {
			return nil, usagef("--send-proxy-protocol: %w", err)
		}
		version = v
	}
	var conn net.Conn
	if len(f.via) == 0 {
		c, err := ep.Dial(ctx, a)
		if err != nil {
			return nil, err
		}
		conn = c
	} else {
		c, err := f.dialVia(ctx, ep, a)
		if err != nil {
			return nil, err
		}
		conn = c
	}
	if version != 0 {
		src, dst := conn.LocalAddr(), conn.RemoteAddr()
		if c, ok := middleware.ClientFrom(ctx); ok {
			src, dst = c.Remote, c.Local
		}
		if err := proxyheader.Write(conn, version, src, dst); err != nil {
			conn.Close()
			return nil, fmt.Errorf("connect %s: %w", a, err)
		}
	}
	return conn, nil
}

// dialVia reaches a TCP address through the --via chain.
func (f *viaFlags) dialVia(ctx context.Context, ep *endpoint.Config, a addr.Addr) (net.Conn, error) {
	switch a.Scheme {
	case addr.TCP, addr.TCP4, addr.TCP6:
	default:
		return nil, usagef("--via reaches TCP addresses only, not %s", a)
	}
	chain := make([]via.Proxy, 0, len(f.via))
	for _, s := range f.via {
		p, err := via.Parse(s)
		if err != nil {
			return nil, usagef("--via: %w", err)
		}
		chain = append(chain, p)
	}
	if ep.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ep.DialTimeout)
		defer cancel()
	}
	d := &net.Dialer{}
	conn, err := via.Dial(ctx, d, chain, a.HostPort())
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", a, err)
	}
	return conn, nil
}

// proxyServiceFlags make serve a SOCKS5 or HTTP CONNECT proxy.
type proxyServiceFlags struct {
	socks5      bool
	httpConnect bool
	auth        string
	allowDest   []string
}

func (f *proxyServiceFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.socks5, "socks5", false, "serve as a SOCKS5 proxy (CONNECT)")
	fs.BoolVar(&f.httpConnect, "http-connect", false, "serve as an HTTP CONNECT proxy")
	fs.StringVar(&f.auth, "proxy-auth", "", "require proxy clients to authenticate as USER:PASS")
	fs.StringArrayVar(&f.allowDest, "allow-dest", nil, "let proxy clients reach only NET[:PORTS], *:PORTS (e.g. 10.0.0.0/8:443, [::1]:80, *:8000-9000; repeatable)")
}

func (f *proxyServiceFlags) handler(ctx context.Context, env *Env, listen *listenFlags) (server.Handler, error) {
	if !f.socks5 && !f.httpConnect {
		if f.auth != "" || len(f.allowDest) > 0 {
			return nil, usagef("--proxy-auth and --allow-dest need --socks5 or --http-connect")
		}
		return nil, nil
	}
	if f.socks5 && f.httpConnect {
		return nil, usagef("--socks5 and --http-connect cannot be combined")
	}
	dests, err := access.ParseDestList(f.allowDest)
	if err != nil {
		return nil, usagef("--allow-dest: %w", err)
	}
	cfg := proxyserver.Config{
		Dests:            dests,
		HandshakeTimeout: listen.secure.guard.headerTimeout,
		IdleTimeout:      listen.idleTimeout,
	}
	if f.auth != "" {
		user, pass, ok := strings.Cut(f.auth, ":")
		if !ok || user == "" {
			return nil, usagef("--proxy-auth: want USER:PASS")
		}
		cfg.Auth = proxyserver.StaticAuth(user, pass)
	}
	if f.socks5 {
		return &proxyserver.SOCKS5{Config: cfg}, nil
	}
	return &proxyserver.HTTPConnect{Config: cfg}, nil
}
