// Package endpoint opens the endpoints that sockit addresses name: it listens
// on and dials TCP, UDP, Unix stream and datagram sockets and the standard
// streams, and is where the secure layer's kinds plug in.
//
// Every listener is a net.Listener and every dialed endpoint a net.Conn, so
// servers, relays and services never need to know which kind they hold.
// Connectionless listeners yield one net.Conn per peer (see package
// datagram).
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"sockit/addr"
	"sockit/endpoint/datagram"
	"sockit/endpoint/stdio"
)

// Config holds the options every endpoint kind shares. The zero value gives
// plain sockets with the system's defaults.
type Config struct {
	// Backlog is the listen queue length for stream listeners; zero means the
	// system's maximum (net.core.somaxconn).
	Backlog int
	// DialTimeout bounds a dial, name resolution included; zero means no
	// bound beyond the context's.
	DialTimeout time.Duration
	// SessionTimeout ends a datagram listener's per-peer session after this
	// long without traffic; zero means datagram.DefaultIdleTimeout.
	SessionTimeout time.Duration
	// Stdin and Stdout are the streams a stdio endpoint uses.
	Stdin  io.Reader
	Stdout io.Writer
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// ErrUnsupported is wrapped when an address kind cannot be used the way asked
// (stdio cannot listen, say).
var ErrUnsupported = errors.New("not supported")

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Listen opens a listener on a. Stream kinds yield connections; datagram
// kinds yield per-peer sessions.
func (c *Config) Listen(ctx context.Context, a addr.Addr) (net.Listener, error) {
	switch a.Scheme {
	case addr.TCP, addr.TCP4, addr.TCP6:
		return c.listenStream(ctx, a.Network(), a.HostPort(), a)
	case addr.Unix:
		if err := removeStaleSocket(ctx, "unix", a.Path); err != nil {
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
		return c.listenStream(ctx, "unix", a.Path, a)
	case addr.UDP, addr.UDP4, addr.UDP6:
		var lc net.ListenConfig
		pc, err := lc.ListenPacket(ctx, a.Network(), a.HostPort())
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", a, unwrapOp(err))
		}
		return datagram.NewListener(pc, c.datagramConfig(), nil), nil
	case addr.Unixgram:
		if err := removeStaleSocket(ctx, "unixgram", a.Path); err != nil {
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
		pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: a.Path, Net: "unixgram"})
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", a, unwrapOp(err))
		}
		return datagram.NewListener(pc, c.datagramConfig(), func() { removeSocketFile(a.Path) }), nil
	}
	return nil, fmt.Errorf("listen %s: %w: %s endpoints cannot listen", a, ErrUnsupported, a.Scheme)
}

func (c *Config) datagramConfig() datagram.Config {
	return datagram.Config{IdleTimeout: c.SessionTimeout, Logger: c.logger()}
}

func (c *Config) listenStream(ctx context.Context, network, address string, a addr.Addr) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", a, unwrapOp(err))
	}
	if c.Backlog > 0 {
		if err := setBacklog(ln, c.Backlog); err != nil {
			ln.Close()
			return nil, fmt.Errorf("listen %s: backlog %d: %w", a, c.Backlog, err)
		}
	}
	return ln, nil
}

// Dial opens a connection to a. A datagram address gives a connected socket
// whose every Read is one reply datagram.
func (c *Config) Dial(ctx context.Context, a addr.Addr) (net.Conn, error) {
	if c.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.DialTimeout)
		defer cancel()
	}
	var d net.Dialer
	switch a.Scheme {
	case addr.TCP, addr.TCP4, addr.TCP6, addr.UDP, addr.UDP4, addr.UDP6:
		conn, err := d.DialContext(ctx, a.Network(), a.HostPort())
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", a, unwrapOp(err))
		}
		return conn, nil
	case addr.Unix:
		conn, err := d.DialContext(ctx, "unix", a.Path)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", a, unwrapOp(err))
		}
		return conn, nil
	case addr.Unixgram:
		conn, err := dialUnixgram(a.Path)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", a, unwrapOp(err))
		}
		return conn, nil
	case addr.Stdio:
		return stdio.New(c.Stdin, c.Stdout), nil
	}
	return nil, fmt.Errorf("connect %s: %w: no dialer for %s", a, ErrUnsupported, a.Scheme)
}

// unwrapOp drops the *net.OpError layer, whose text repeats the address the
// caller's message already names.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var dnsErr *net.DNSError
		if errors.As(oe.Err, &dnsErr) {
			if dnsErr.Err == "unknown port" {
				// Name is "NETWORK/SERVICE" for a port lookup.
				_, service, _ := strings.Cut(dnsErr.Name, "/")
				return fmt.Errorf("unknown port %q: %w", service, oe.Err)
			}
			return fmt.Errorf("unknown host %s: %w", dnsErr.Name, oe.Err)
		}
		return oe.Err
	}
	return err
}
