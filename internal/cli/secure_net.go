package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
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

	once    sync.Once
	version byte        // of the PROXY protocol header; 0: none
	chain   []via.Proxy // parsed from via
	err     error
}

func (f *viaFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.via, "via", nil, "reach the target through a proxy: socks4://, socks4a://, socks5://[USER:PASS@]HOST:PORT, http://[USER:PASS@]HOST:PORT (repeat to chain)")
	fs.StringVar(&f.sendProxy, "send-proxy-protocol", "", "send a PROXY protocol header (v1 or v2) naming the client before any data")
}

// parse parses the flags, once per command.
func (f *viaFlags) parse() error {
	f.once.Do(func() {
		if f.sendProxy != "" {
			if f.version, f.err = proxyheader.ParseVersion(f.sendProxy); f.err != nil {
				f.err = usagef("--send-proxy-protocol: %w", f.err)
				return
			}
		}
		for _, s := range f.via {
			p, err := via.Parse(s)
			if err != nil {
				f.err = usagef("--via: %w", err)
				return
			}
			f.chain = append(f.chain, p)
		}
	})
	return f.err
}

// check reports a bad --via or --send-proxy-protocol for target a (or the
// TCP address under it) before anything is dialed.
func (f *viaFlags) check(a addr.Addr) error {
	if err := f.parse(); err != nil {
		return err
	}
	if len(f.chain) > 0 {
		switch a.Transport().Scheme {
		case addr.TCP, addr.TCP4, addr.TCP6:
		case addr.UDP, addr.UDP4, addr.UDP6:
			if len(f.chain) != 1 || f.chain[0].Kind != via.SOCKS5 {
				return usagef("--via reaches %s through one socks5:// proxy only (UDP ASSOCIATE)", a)
			}
		default:
			return usagef("--via reaches TCP and UDP addresses only, not %s", a)
		}
	}
	return nil
}

func (f *viaFlags) dial(ctx context.Context, env *Env, ep *endpoint.Config, a addr.Addr) (net.Conn, error) {
	if err := f.check(a); err != nil {
		return nil, err
	}
	var conn net.Conn
	var err error
	if len(f.chain) == 0 {
		conn, err = ep.Dial(ctx, a)
	} else {
		conn, err = f.dialVia(ctx, ep, a)
	}
	if err != nil {
		return nil, err
	}
	if f.version != 0 {
		src, dst := conn.LocalAddr(), conn.RemoteAddr()
		if c, ok := middleware.ClientFrom(ctx); ok {
			src, dst = c.Remote, c.Local
		}
		if err := proxyheader.Write(conn, f.version, src, dst); err != nil {
			conn.Close()
			return nil, fmt.Errorf("connect %s: %w", a, err)
		}
	}
	return conn, nil
}

// dialVia reaches a TCP address through the --via chain, or a UDP address
// through its one SOCKS5 proxy.
func (f *viaFlags) dialVia(ctx context.Context, ep *endpoint.Config, a addr.Addr) (net.Conn, error) {
	if ep.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ep.DialTimeout)
		defer cancel()
	}
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	if a.IsDatagram() {
		conn, err = via.DialUDP(ctx, d, f.chain[0], a.HostPort())
	} else {
		conn, err = via.Dial(ctx, d, f.chain, a.HostPort())
	}
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
