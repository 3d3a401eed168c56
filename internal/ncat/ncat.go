// Package ncat is the engine behind "sockit nc": Nmap ncat's connect, listen,
// exec, broker and scan modes, with its messages and exit codes, built on
// sockit's endpoints, server and services. The command line (internal/cli)
// parses ncat's options into a Config; Run does the rest.
package ncat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/server"
)

// Config is one ncat run. The zero value connects over TCP to Address with
// the standard streams as the other end; Stdin, Stdout and Stderr are required.
type Config struct {
	// Listen makes ncat listen on Address instead of connecting to it (-l).
	Listen bool
	// KeepOpen serves connection after connection (-k); without it the
	// first connection is served and ncat exits.
	KeepOpen bool
	// Network is tcp, tcp4, tcp6, udp, udp4, udp6, unix or unixgram.
	// Empty means tcp.
	Network string
	// Address is HOST:PORT to connect to or listen on (HOST empty: every
	// interface), or a socket path for the unix networks.
	Address string
	// LocalAddr is the connecting side's own HOST:PORT (-s, -p); either part
	// may be empty.
	LocalAddr string
	// MaxConns caps the connections served at once (-m); zero: no cap.
	MaxConns int
	// ConnectTimeout bounds connecting (-w); zero: the system's.
	ConnectTimeout time.Duration
	// IdleTimeout ends a session with no traffic for this long (-i).
	IdleTimeout time.Duration
	// Delay waits between two reads of standard input (-d).
	Delay time.Duration
	// CRLF sends standard input's line ends as CRLF (-C).
	CRLF bool
	// Telnet answers and strips Telnet negotiation (-t).
	Telnet bool
	// SendOnly discards what is received and ends at standard input's end.
	SendOnly bool
	// RecvOnly never reads standard input.
	RecvOnly bool
	// NoShutdown keeps the write side open at standard input's end.
	NoShutdown bool
	// ZeroIO only reports whether the connection succeeds (-z).
	ZeroIO bool
	// Verbose is the -v count: 1 gives ncat's "Ncat: ..." messages.
	Verbose int
	// Version is printed in the first verbose line.
	Version string
	// Output and HexDump, when not nil, receive the session's bytes raw
	// (-o) and as a hex dump (-x).
	Output, HexDump io.Writer
	// Dial opens connections (a proxy dialer, --proxy); nil dials directly
	// from LocalAddr.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// ClientTLS, when not nil, wraps each dialed connection (--ssl).
	ClientTLS func(ctx context.Context, conn net.Conn) (net.Conn, error)
	// Middleware runs on each accepted connection, first listed first,
	// before it is served: access rules, then the TLS handshake.
	Middleware []server.Middleware
	// Handler, when not nil, serves every connection instead of the
	// standard streams: exec, broker, chat, the HTTP proxy.
	Handler server.Handler
	// Stdin, Stdout and Stderr are the standard streams; messages go to
	// Stderr.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Logger receives the server's diagnostics; nil discards them.
	Logger *slog.Logger
}

// ExitError is an error with the exit status ncat gives it: 1 when the work
// failed, 2 for a wrong command line.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// Usagef returns an ExitError with status 2 and ncat's " QUITTING." ending.
func Usagef(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format+" QUITTING.", args...)}
}

// failure wraps err as an ExitError with status 1 and ncat's wording.
func failure(err error) error {
	return &ExitError{Code: 1, Err: errors.New(describe(err))}
}

// describe phrases err the way ncat does: the system's message, capitalised,
// with a full stop.
func describe(err error) string {
	var dnsErr *net.DNSError
	var errno syscall.Errno
	switch {
	case errors.Is(err, ErrIdleTimeout):
		return sentence(err.Error())
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("Could not resolve hostname %q: Name or service not known. QUITTING.", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "TIMEOUT."
	case errors.As(err, &errno):
		return sentence(errno.Error())
	}
	return sentence(err.Error())
}

// sleepCtx waits d, or less if ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// notef prints one of ncat's verbose messages when the verbosity is at least
// level.
func (c *Config) notef(level int, format string, args ...any) {
	if c.Verbose >= level {
		fmt.Fprintf(c.Stderr, "Ncat: "+format+"\n", args...)
	}
}

func (c *Config) network() string {
	if c.Network == "" {
		return "tcp"
	}
	return c.Network
}

func (c *Config) isUnix() bool { return strings.HasPrefix(c.network(), "unix") }

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Run does what cfg says until it is done or ctx ends. Its errors are
// *ExitError values whose text is ncat's message without the "Ncat: ".
func Run(ctx context.Context, cfg *Config) error {
	cfg.notef(1, "Version %s ( https://nmap.org/ncat )", cfg.Version)
	if cfg.Listen {
		return listen(ctx, cfg)
	}
	return connect(ctx, cfg)
}

// connect dials Address and joins the connection to the standard streams,
// or to Handler.
func connect(ctx context.Context, cfg *Config) error {
	start := time.Now()
	conn, err := cfg.dial(ctx)
	if err != nil {
		if cfg.ZeroIO && cfg.Verbose == 0 {
			return &ExitError{Code: 1} // -z reports by its exit status only
		}
		return failure(err)
	}
	cfg.notef(1, "Connected to %s.", peerName(cfg, conn))
	if cfg.ZeroIO {
		conn.Close()
		cfg.notef(1, "0 bytes sent, 0 bytes received in %.2f seconds.", time.Since(start).Seconds())
		return nil
	}
	if cfg.Handler != nil {
		err := cfg.Handler.ServeConn(ctx, conn)
		conn.Close()
		if err != nil && !errors.Is(err, context.Canceled) {
			return failure(err)
		}
		return nil
	}
	sent, received, err := runSession(ctx, cfg, conn)
	if err != nil {
		return failure(err)
	}
	cfg.notef(1, "%d bytes sent, %d bytes received in %.2f seconds.", sent, received, time.Since(start).Seconds())
	return nil
}

// peerName is the address ncat names in "Connected to ...".
func peerName(cfg *Config, conn net.Conn) string {
	if cfg.isUnix() || cfg.Dial != nil {
		return cfg.Address
	}
	return ncatAddrOf(conn.RemoteAddr())
}

// dial opens the connection, within ConnectTimeout, through the proxy when
// there is one, with TLS when asked for.
func (c *Config) dial(ctx context.Context) (net.Conn, error) {
	if c.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.ConnectTimeout)
		defer cancel()
	}
	var conn net.Conn
	var err error
	switch {
	case c.isUnix():
		a, perr := addr.Parse(c.network() + "://" + c.Address)
		if perr != nil {
			return nil, perr
		}
		var ep endpoint.Config
		conn, err = ep.Dial(ctx, a)
	case c.Dial != nil:
		conn, err = c.Dial(ctx, c.network(), c.Address)
	default:
		d := net.Dialer{}
		if c.LocalAddr != "" {
			la, lerr := localAddr(c.network(), c.LocalAddr)
			if lerr != nil {
				return nil, lerr
			}
			d.LocalAddr = la
		}
		conn, err = d.DialContext(ctx, c.network(), c.Address)
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if c.ClientTLS != nil {
		return c.ClientTLS(ctx, conn)
	}
	return conn, nil
}

func localAddr(network, hostport string) (net.Addr, error) {
	if strings.HasPrefix(network, "udp") {
		return net.ResolveUDPAddr(network, hostport)
	}
	return net.ResolveTCPAddr(network, hostport)
}
