package proxyserver

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"sockit/relay"
	"sockit/server"
	"sockit/service"
)

// SOCKS5 is a SOCKS5 server (RFC 1928) for the CONNECT and UDP ASSOCIATE
// commands (not BIND), with optional username/password authentication
// (RFC 1929). Names in requests are resolved here (remote DNS for the
// client). The destination rules apply to every connection and datagram.
//
// It is written here rather than taken from github.com/armon/go-socks5,
// the usual library: that one cannot fit a server.Handler (no context, its
// own copy loop without idle timeout or splice, a *log.Logger, a panic when
// the dialed connection is not TCP), and the protocol is a few fixed-size
// messages. The request is read with exact reads, never buffered past its
// end, so the client socket is handed to relay.Pipe untouched.
type SOCKS5 struct {
	Config
}

var _ server.Handler = (*SOCKS5)(nil)

// SOCKS5 constants.
const (
	socks5Version   = 5
	methodNoAuth    = 0x00
	methodUserPass  = 0x02
	methodNone      = 0xff
	cmdConnect      = 0x01
	atypIPv4        = 0x01
	atypDomain      = 0x03
	atypIPv6        = 0x04
	repSuccess      = 0x00
	repFailure      = 0x01
	repNotAllowed   = 0x02
	repNetUnreach   = 0x03
	repHostUnreach  = 0x04
	repRefused      = 0x05
	repCmdNotSupp   = 0x07
	repAtypNotSupp  = 0x08
	userPassVersion = 0x01
)

// ErrHandshake is wrapped by errors in a client's greeting or request.
var ErrHandshake = errors.New("bad proxy request")

// ServeConn serves one SOCKS5 client.
func (s *SOCKS5) ServeConn(ctx context.Context, conn net.Conn) error {
	conn.SetDeadline(time.Now().Add(s.handshakeTimeout()))
	cmd, host, port, err := s.negotiate(conn)
	if err != nil {
		return server.WithReason(server.ReasonProtocol, fmt.Errorf("socks5: %w", err))
	}
	conn.SetDeadline(time.Time{}) // the dial has its own timeout
	if cmd == cmdUDPAssociate {
		return s.associate(ctx, conn, host, port)
	}
	target, err := service.DialAside(ctx, service.DialerFunc(func(ctx context.Context) (net.Conn, error) { return s.dial(ctx, host, port) }))
	if err != nil {
		writeReply(conn, replyCode(err), nil)
		if errors.Is(err, ErrDenied) {
			return server.WithReason(server.ReasonDenied, fmt.Errorf("socks5: %w", err))
		}
		return server.WithReason(server.ReasonDialFailed, fmt.Errorf("socks5: %w", err))
	}
	if err := writeReply(conn, repSuccess, target.LocalAddr()); err != nil {
		target.Close()
		return fmt.Errorf("socks5: reply: %w", err)
	}
	_, err = relay.Pipe(ctx, conn, target, relay.Options{IdleTimeout: s.IdleTimeout})
	if errors.Is(err, relay.ErrIdleTimeout) {
		return server.WithReason(server.ReasonIdleTimeout, err)
	}
	return err
}

// negotiate reads the greeting, authenticates and reads the request,
// answering failures itself. It returns the command and its host and port.
func (s *SOCKS5) negotiate(conn net.Conn) (byte, string, uint16, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return 0, "", 0, fmt.Errorf("%w: greeting: %w", ErrHandshake, err)
	}
	if hdr[0] != socks5Version {
		return 0, "", 0, fmt.Errorf("%w: version %d, want 5", ErrHandshake, hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(conn, methods); err != nil {
		return 0, "", 0, fmt.Errorf("%w: greeting: %w", ErrHandshake, err)
	}
	want := byte(methodNoAuth)
	if s.Auth != nil {
		want = methodUserPass
	}
	offered := false
	for _, m := range methods {
		offered = offered || m == want
	}
	if !offered {
		conn.Write([]byte{socks5Version, methodNone})
		if s.Auth != nil {
			return 0, "", 0, fmt.Errorf("%w: client does not offer username/password authentication", ErrHandshake)
		}
		return 0, "", 0, fmt.Errorf("%w: client offers no method without authentication", ErrHandshake)
	}
	if _, err := conn.Write([]byte{socks5Version, want}); err != nil {
		return 0, "", 0, err
	}
	if s.Auth != nil {
		if err := s.authenticate(conn); err != nil {
			return 0, "", 0, err
		}
	}
	return readRequest(conn)
}

// authenticate runs RFC 1929's username/password exchange.
func (s *SOCKS5) authenticate(conn net.Conn) error {
	var b [2]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fmt.Errorf("%w: authentication: %w", ErrHandshake, err)
	}
	if b[0] != userPassVersion {
		return fmt.Errorf("%w: authentication version %d", ErrHandshake, b[0])
	}
	user := make([]byte, b[1])
	if _, err := io.ReadFull(conn, user); err != nil {
		return fmt.Errorf("%w: authentication: %w", ErrHandshake, err)
	}
	if _, err := io.ReadFull(conn, b[:1]); err != nil {
		return fmt.Errorf("%w: authentication: %w", ErrHandshake, err)
	}
	pass := make([]byte, b[0])
	if _, err := io.ReadFull(conn, pass); err != nil {
		return fmt.Errorf("%w: authentication: %w", ErrHandshake, err)
	}
	if !s.Auth(string(user), string(pass)) {
		conn.Write([]byte{userPassVersion, 1})
		return fmt.Errorf("%w: authentication failed for user %q", ErrHandshake, user)
	}
	_, err := conn.Write([]byte{userPassVersion, 0})
	return err
}

// readRequest reads a CONNECT or UDP ASSOCIATE request: the command, host
// and port.
func readRequest(conn net.Conn) (byte, string, uint16, error) {
	var h [4]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		return 0, "", 0, fmt.Errorf("%w: request: %w", ErrHandshake, err)
	}
	if h[0] != socks5Version {
		return 0, "", 0, fmt.Errorf("%w: request version %d", ErrHandshake, h[0])
	}
	var host string
	switch h[3] {
	case atypIPv4, atypIPv6:
		b := make([]byte, 4)
		if h[3] == atypIPv6 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(conn, b); err != nil {
			return 0, "", 0, fmt.Errorf("%w: request: %w", ErrHandshake, err)
		}
		ip, _ := netip.AddrFromSlice(b)
		host = ip.Unmap().String()
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return 0, "", 0, fmt.Errorf("%w: request: %w", ErrHandshake, err)
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(conn, b); err != nil {
			return 0, "", 0, fmt.Errorf("%w: request: %w", ErrHandshake, err)
		}
		if n[0] == 0 {
			writeReply(conn, repHostUnreach, nil)
			return 0, "", 0, fmt.Errorf("%w: empty host name", ErrHandshake)
		}
		host = string(b)
	default:
		writeReply(conn, repAtypNotSupp, nil)
		return 0, "", 0, fmt.Errorf("%w: address type %d", ErrHandshake, h[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(conn, p[:]); err != nil {
		return 0, "", 0, fmt.Errorf("%w: request: %w", ErrHandshake, err)
	}
	if h[1] != cmdConnect && h[1] != cmdUDPAssociate {
		writeReply(conn, repCmdNotSupp, nil)
		return 0, "", 0, fmt.Errorf("%w: command %d not supported (CONNECT and UDP ASSOCIATE only)", ErrHandshake, h[1])
	}
	return h[1], host, binary.BigEndian.Uint16(p[:]), nil
}

// writeReply sends a reply with the bound address (zeros when unknown).
func writeReply(w io.Writer, code byte, bound net.Addr) error {
	ap := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if ta, ok := bound.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	}
	ip := ap.Addr().Unmap()
	msg := []byte{socks5Version, code, 0, atypIPv4}
	if ip.Is6() {
		msg[3] = atypIPv6
	}
	msg = append(msg, ip.AsSlice()...)
	msg = binary.BigEndian.AppendUint16(msg, ap.Port())
	_, err := w.Write(msg)
	return err
}

// replyCode maps a dial error onto a SOCKS5 reply code.
func replyCode(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, ErrDenied):
		return repNotAllowed
	case errors.Is(err, syscall.ECONNREFUSED):
		return repRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return repNetUnreach
	case errors.As(err, &dnsErr), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded):
		return repHostUnreach
	}
	return repFailure
}

// constantTimeEqual compares secrets without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// StaticAuth returns an Auth function accepting exactly user and password.
func StaticAuth(user, password string) func(string, string) bool {
	return func(u, p string) bool {
		okUser := constantTimeEqual(u, user)
		okPass := constantTimeEqual(p, password)
		return okUser && okPass
	}
}
