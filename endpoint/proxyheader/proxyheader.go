// Package proxyheader reads and writes the PROXY protocol header (versions 1
// and 2) that load balancers such as HAProxy and nginx put in front of a
// proxied connection to name the real client. The parsing is
// github.com/pires/go-proxyproto's; this package adds the deadline, the
// reasons a header is refused, and a connection whose addresses are the
// ones the header names.
package proxyheader

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// DefaultTimeout bounds the wait for a header when none is given.
const DefaultTimeout = 5 * time.Second

// ErrMissing is wrapped when a connection does not start with a PROXY header.
var ErrMissing = errors.New("missing PROXY protocol header")

// ErrTimeout is wrapped when the header does not arrive in time.
var ErrTimeout = errors.New("no PROXY protocol header in time")

// ErrMalformed is wrapped when a header starts but is not valid.
var ErrMalformed = errors.New("malformed PROXY protocol header")

// Accept reads the PROXY header that must start conn, waiting at most
// timeout (DefaultTimeout when zero or less), and returns a connection whose
// RemoteAddr and LocalAddr are the client and destination the header names.
// A LOCAL header (a balancer's health check) keeps conn's own addresses. The
// bytes after the header read as they arrived. On error conn is left open for
// the caller to close.
func Accept(conn net.Conn, timeout time.Duration) (net.Conn, *proxyproto.Header, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, nil, fmt.Errorf("PROXY header: %w", err)
	}
	// The v2 header with its TLVs can be up to 64 KiB; v1 is at most 107
	// bytes. A small buffer grows only for headers that need it.
	br := bufio.NewReaderSize(conn, 512)
	h, err := proxyproto.Read(br)
	switch {
	case err == nil:
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return nil, nil, ErrMissing
	case errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(deadline):
		// The v1 parser does not wrap the read error, so the clock decides.
		return nil, nil, fmt.Errorf("%w (%v)", ErrTimeout, timeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, nil, fmt.Errorf("%w: connection closed before the header ended", ErrMalformed)
	default:
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, nil, fmt.Errorf("PROXY header: %w", err)
	}
	c := &Conn{Conn: conn, remote: conn.RemoteAddr(), local: conn.LocalAddr()}
	if br.Buffered() > 0 {
		c.buf = br
	}
	if !h.Command.IsLocal() && h.SourceAddr != nil && h.DestinationAddr != nil {
		c.remote, c.local = h.SourceAddr, h.DestinationAddr
	}
	return c, h, nil
}

// Conn is a connection whose addresses come from its PROXY header. It passes
// CloseWrite, ReadFrom and (once the bytes read with the header are
// consumed) WriteTo on to the socket, so relays still half-close and splice.
type Conn struct {
	net.Conn
	buf           *bufio.Reader // bytes read past the header; nil when none
	remote, local net.Addr
}

// Raw returns the underlying connection.
func (c *Conn) Raw() net.Conn { return c.Conn }

// RemoteAddr returns the client address named by the header.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the destination address named by the header.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// Read reads the bytes that came with the header first, then the socket.
func (c *Conn) Read(p []byte) (int, error) {
	if c.buf != nil {
		if c.buf.Buffered() > 0 {
			return c.buf.Read(p)
		}
		c.buf = nil
	}
	return c.Conn.Read(p)
}

// WriteTo copies the connection's input to w, letting the socket splice once
// the buffered bytes are gone.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if c.buf != nil && c.buf.Buffered() > 0 {
		b, _ := c.buf.Peek(c.buf.Buffered())
		m, err := w.Write(b)
		c.buf.Discard(m)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	c.buf = nil
	m, err := io.Copy(w, c.Conn)
	return n + m, err
}

// ReadFrom copies r to the socket.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite half-closes the socket when it can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ParseVersion parses "1"/"v1" or "2"/"v2".
func ParseVersion(s string) (byte, error) {
	switch s {
	case "1", "v1":
		return 1, nil
	case "2", "v2":
		return 2, nil
	}
	return 0, fmt.Errorf("PROXY protocol version %q: want v1 or v2", s)
}

// Write sends a PROXY header of the given version (1 or 2) naming src as the
// client and dst as the destination. Addresses that are not both TCP (or
// both UDP) send an UNKNOWN (v1) or LOCAL (v2) header, as HAProxy does.
func Write(w io.Writer, version byte, src, dst net.Addr) error {
	src, dst = sameFamily(src, dst)
	h := proxyproto.HeaderProxyFromAddrs(version, src, dst)
	if _, err := h.WriteTo(w); err != nil {
		return fmt.Errorf("send PROXY v%d header: %w", version, err)
	}
	return nil
}

// sameFamily gives two TCP or UDP addresses the same IP family, as the header
// has one: both IPv4 when they can be, else both IPv6 (IPv4-mapped).
func sameFamily(src, dst net.Addr) (net.Addr, net.Addr) {
	norm := func(a, b net.IP) (net.IP, net.IP) {
		if a4, b4 := a.To4(), b.To4(); a4 != nil && b4 != nil {
			return a4, b4
		}
		return a.To16(), b.To16()
	}
	switch s := src.(type) {
	case *net.TCPAddr:
		if d, ok := dst.(*net.TCPAddr); ok {
			si, di := norm(s.IP, d.IP)
			return &net.TCPAddr{IP: si, Port: s.Port}, &net.TCPAddr{IP: di, Port: d.Port}
		}
	case *net.UDPAddr:
		if d, ok := dst.(*net.UDPAddr); ok {
			si, di := norm(s.IP, d.IP)
			return &net.UDPAddr{IP: si, Port: s.Port}, &net.UDPAddr{IP: di, Port: d.Port}
		}
	}
	return src, dst
}
