// Package via reaches a target through a chain of proxies: SOCKS4, SOCKS4a,
// SOCKS5 (username/password, names resolved by the proxy) and HTTP CONNECT
// (Basic auth). Each hop's handshake runs over the connection the previous
// hops opened, so "--via A --via B" reaches the target through A then B.
// DialUDP reaches a UDP target through one SOCKS5 proxy (UDP ASSOCIATE).
//
// SOCKS5 is golang.org/x/net/proxy's. SOCKS4/4a and HTTP CONNECT are written
// here: x/net has no SOCKS4 client, and net/http's Transport cannot hand back
// the raw tunnel of a CONNECT, while the request and its response are a few
// lines with net/http's own ReadResponse doing the parsing.
package via

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The proxy kinds.
const (
	SOCKS4  = "socks4"
	SOCKS4a = "socks4a"
	SOCKS5  = "socks5"
	HTTP    = "http"
)

// ErrSyntax is wrapped by errors about malformed proxy URLs.
var ErrSyntax = errors.New("bad proxy")

// Proxy is one hop of a chain.
type Proxy struct {
	// Kind is SOCKS4, SOCKS4a, SOCKS5 or HTTP.
	Kind string
	// Addr is the proxy's HOST:PORT.
	Addr string
	// User and Password authenticate to the proxy (SOCKS5 and HTTP); for
	// SOCKS4 User is the user id. HasAuth says whether they were given.
	User, Password string
	HasAuth        bool
}

// String returns p as a URL, the password elided.
func (p Proxy) String() string {
	u := url.URL{Scheme: p.Kind, Host: p.Addr}
	if p.HasAuth {
		u.User = url.User(p.User)
	}
	return u.String()
}

// defaultPorts are the usual ports of each kind.
var defaultPorts = map[string]string{SOCKS4: "1080", SOCKS4a: "1080", SOCKS5: "1080", HTTP: "8080"}

// Parse parses a proxy URL: socks4://[USER@]HOST[:PORT],
// socks4a://..., socks5://[USER:PASS@]HOST[:PORT] (socks5h:// is the same:
// the proxy resolves names), http://[USER:PASS@]HOST[:PORT]. The port
// defaults to 1080 for SOCKS and 8080 for HTTP.
func Parse(s string) (Proxy, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return Proxy{}, fmt.Errorf("%w %q: want KIND://[USER:PASS@]HOST:PORT", ErrSyntax, s)
	}
	kind := strings.ToLower(u.Scheme)
	switch kind {
	case "socks5h":
		kind = SOCKS5
	case "https":
		return Proxy{}, fmt.Errorf("%w %q: HTTPS proxies are not supported; use http://", ErrSyntax, s)
	case SOCKS4, SOCKS4a, SOCKS5, HTTP:
	default:
		return Proxy{}, fmt.Errorf("%w %q: unknown kind %q (socks4, socks4a, socks5, http)", ErrSyntax, s, u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return Proxy{}, fmt.Errorf("%w %q: a proxy URL has no path", ErrSyntax, s)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return Proxy{}, fmt.Errorf("%w %q: no host", ErrSyntax, s)
	}
	if port == "" {
		port = defaultPorts[kind]
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Proxy{}, fmt.Errorf("%w %q: bad port %q", ErrSyntax, s, port)
	}
	p := Proxy{Kind: kind, Addr: net.JoinHostPort(host, port)}
	if u.User != nil {
		p.HasAuth = true
		p.User = u.User.Username()
		p.Password, _ = u.User.Password()
		if len(p.User) > 255 || len(p.Password) > 255 {
			return Proxy{}, fmt.Errorf("%w %q: user name and password are at most 255 bytes", ErrSyntax, s)
		}
	}
	return p, nil
}

// ContextDialer opens the connection to the first proxy; *net.Dialer is one.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Dial opens a connection to target (HOST:PORT) through the chain of
// proxies, the first of which base dials over TCP (a zero net.Dialer when
// base is nil). With an empty chain it dials target directly. The returned
// connection is the socket to the first proxy, so relays can still
// half-close and splice it.
func Dial(ctx context.Context, base ContextDialer, chain []Proxy, target string) (net.Conn, error) {
	if base == nil {
		base = &net.Dialer{}
	}
	if len(chain) == 0 {
		return base.DialContext(ctx, "tcp", target)
	}
	conn, err := base.DialContext(ctx, "tcp", chain[0].Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to proxy %s: %w", chain[0], err)
	}
	for i, p := range chain {
		next := target
		if i+1 < len(chain) {
			next = chain[i+1].Addr
		}
		c, err := Handshake(ctx, conn, p, next)
		if err != nil {
			conn.Close()
			return nil, err
		}
		conn = c
	}
	return conn, nil
}

// Handshake asks proxy p, reached over conn, to connect to target
// (HOST:PORT), and returns the tunnel. It honours ctx's deadline and
// cancellation during the handshake only.
func Handshake(ctx context.Context, conn net.Conn, p Proxy, target string) (net.Conn, error) {
	return within(ctx, conn, p, target, func() (net.Conn, error) { return handshake(ctx, conn, p, target) })
}

// within runs the handshake hs on conn under ctx's deadline and
// cancellation, and names target and p in its error.
func within(ctx context.Context, conn net.Conn, p Proxy, target string, hs func() (net.Conn, error)) (net.Conn, error) {
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	c, err := hs()
	if !stop() && err == nil {
		err = ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case hasDeadline && !time.Now().Before(deadline) && errors.Is(err, os.ErrDeadlineExceeded):
			// The socket's deadline fired a moment before the context's.
			err = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("%s via %s: %w", target, p, err)
	}
	return c, nil
}

func handshake(ctx context.Context, conn net.Conn, p Proxy, target string) (net.Conn, error) {
	switch p.Kind {
	case SOCKS5:
		return socks5(ctx, conn, p, target)
	case SOCKS4, SOCKS4a:
		return socks4(ctx, conn, p, target)
	case HTTP:
		return httpConnect(conn, p, target)
	}
	return nil, fmt.Errorf("%w: unknown kind %q", ErrSyntax, p.Kind)
}
