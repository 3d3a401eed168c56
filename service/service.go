// Package service holds the handlers sockit serves: the tutorial's greeting,
// echo, discard, and forward (relay each connection to a dialed endpoint).
// Each is a server.Handler and works on every listener kind, connectionless
// sessions included.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"sockit/relay"
	"sockit/server"
)

// DefaultGreeting is what the seed's server sends.
const DefaultGreeting = "Thank you for connecting\n"

// datagramConn is implemented by connections whose every Read is one message
// (datagram sessions and connected datagram sockets).
type datagramConn interface{ Datagram() bool }

// IsDatagram reports whether conn carries messages rather than a byte stream.
func IsDatagram(conn net.Conn) bool {
	if d, ok := conn.(datagramConn); ok {
		return d.Datagram()
	}
	switch conn.LocalAddr().Network() {
	case "udp", "udp4", "udp6", "unixgram":
		return true
	}
	return false
}

// Greet sends Message to every client. On a stream it then closes the
// connection; on a datagram session it answers every datagram, as RFC 865
// does over UDP.
type Greet struct {
	// Message is sent as is; empty means DefaultGreeting.
	Message []byte
	// Linger bounds how long a stream connection is drained after the
	// greeting, so unread client bytes do not reset it before the client has
	// read the greeting; zero means 2 s.
	Linger time.Duration
}

// ServeConn greets conn.
func (g Greet) ServeConn(ctx context.Context, conn net.Conn) error {
	msg := g.Message
	if len(msg) == 0 {
		msg = []byte(DefaultGreeting)
	}
	if IsDatagram(conn) {
		buf := make([]byte, 64*1024)
		for {
			if _, err := conn.Read(buf); err != nil {
				return endOfSession(err)
			}
			if _, err := conn.Write(msg); err != nil {
				return fmt.Errorf("greet: %w", err)
			}
		}
	}
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("greet: %w", err)
	}
	return closeGracefully(conn, g.Linger)
}

// closeGracefully half-closes conn and reads until the client closes or the
// linger time passes, so that closing does not send a reset over bytes the
// client is still to read.
func closeGracefully(conn net.Conn, linger time.Duration) error {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok {
		return nil
	}
	if err := cw.CloseWrite(); err != nil {
		return nil // the client is already gone
	}
	if linger <= 0 {
		linger = 2 * time.Second
	}
	conn.SetReadDeadline(time.Now().Add(linger))
	io.Copy(io.Discard, io.LimitReader(conn, 1<<20))
	return nil
}

// endOfSession turns the ways a datagram session ends into nil.
func endOfSession(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// Echo sends back everything a client sends until the client half-closes,
// then closes. On a datagram session it echoes each datagram.
type Echo struct {
	// IdleTimeout closes a connection idle this long; zero never does.
	IdleTimeout time.Duration
}

// ServeConn echoes conn.
func (e Echo) ServeConn(ctx context.Context, conn net.Conn) error {
	if IsDatagram(conn) {
		buf := make([]byte, 64*1024)
		for {
			if e.IdleTimeout > 0 {
				conn.SetReadDeadline(time.Now().Add(e.IdleTimeout))
			}
			n, err := conn.Read(buf)
			if err != nil {
				return endOfSession(err)
			}
			if _, err := conn.Write(buf[:n]); err != nil {
				return fmt.Errorf("echo: %w", err)
			}
		}
	}
	// Copying a socket onto itself splices the echo; relay.Copy holds no
	// pipe while the connection is idle, as io.Copy would.
	for {
		if e.IdleTimeout > 0 {
			conn.SetReadDeadline(time.Now().Add(e.IdleTimeout))
		}
		n, err := relay.Copy(conn, conn)
		switch {
		case err == nil:
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded) && n > 0:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			return server.WithReason(server.ReasonIdleTimeout, err)
		}
		return fmt.Errorf("echo: %w", err)
	}
}

// DialAside dials with d in a goroutine of its own and waits for it. A
// relaying handler dials this way so that the stack the dial grows
// (resolver, proxies, TLS handshake: 8 KB and more) is not kept for as long
// as the relay lasts: measured on idle relayed pairs, 4 KB less per pair. A
// panic in d is returned as an error, as server.Server treats one in a
// handler.
func DialAside(ctx context.Context, d Dialer) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("dial: panic: %v", r)}
			}
		}()
		c, err := d.DialContext(ctx)
		done <- result{c, err}
	}()
	r := <-done
	return r.conn, r.err
}

// relayErr maps relay's idle sentinel onto the server's closed reason.
func relayErr(err error) error {
	if errors.Is(err, relay.ErrIdleTimeout) {
		return server.WithReason(server.ReasonIdleTimeout, err)
	}
	return err
}

// Discard reads and drops everything a client sends until it closes.
type Discard struct {
	// IdleTimeout closes a connection idle this long; zero never does.
	IdleTimeout time.Duration
}

// ServeConn discards conn's input.
func (d Discard) ServeConn(ctx context.Context, conn net.Conn) error {
	buf := make([]byte, 64*1024)
	for {
		if d.IdleTimeout > 0 {
			conn.SetReadDeadline(time.Now().Add(d.IdleTimeout))
		}
		if _, err := conn.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !IsDatagram(conn) {
				return server.WithReason(server.ReasonIdleTimeout, err)
			}
			return endOfSession(err)
		}
	}
}

// Dialer opens the far side of a forwarded connection.
type Dialer interface {
	DialContext(ctx context.Context) (net.Conn, error)
}

// DialerFunc adapts a function to a Dialer.
type DialerFunc func(ctx context.Context) (net.Conn, error)

// DialContext calls f(ctx).
func (f DialerFunc) DialContext(ctx context.Context) (net.Conn, error) { return f(ctx) }

// Forward relays each connection to a freshly dialed endpoint, full-duplex
// with half-close, until both directions end.
type Forward struct {
	// Dial opens the far side for each connection.
	Dial Dialer
	// IdleTimeout ends a relayed pair idle this long; zero never does.
	IdleTimeout time.Duration
	// Done, if not nil, is called with each finished relay's byte counts
	// (client to target, target to client).
	Done func(conn net.Conn, stats relay.Stats, err error)
}

// ServeConn forwards conn.
func (f Forward) ServeConn(ctx context.Context, conn net.Conn) error {
	target, err := DialAside(ctx, f.Dial)
	if err != nil {
		return server.WithReason(server.ReasonDialFailed, err)
	}
	stats, err := relay.Pipe(ctx, conn, target, relay.Options{IdleTimeout: f.IdleTimeout})
	if f.Done != nil {
		f.Done(conn, stats, err)
	}
	return relayErr(err)
}
