package proxyserver

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sockit/relay"
	"sockit/server"
	"sockit/service"
)

// MaxRequestHeader bounds the size of a CONNECT request with its headers.
const MaxRequestHeader = 64 << 10

// HTTPConnect is an HTTP proxy that serves the CONNECT method only: the
// tunnels curl -x, ncat --proxy-type http and browsers open. net/http's
// ReadRequest parses the request; the server answers with a status line and
// then joins the client and the destination with relay.Pipe.
type HTTPConnect struct {
	Config
}

var _ server.Handler = (*HTTPConnect)(nil)

// ServeConn serves one CONNECT request and its tunnel.
func (h *HTTPConnect) ServeConn(ctx context.Context, conn net.Conn) error {
	conn.SetDeadline(time.Now().Add(h.handshakeTimeout()))
	lr := &io.LimitedReader{R: conn, N: MaxRequestHeader}
	br := bufio.NewReaderSize(lr, 4096)
	host, port, status, err := h.readConnect(br)
	if err != nil {
		if status != 0 {
			writeStatus(conn, status, "")
		}
		return server.WithReason(server.ReasonProtocol, fmt.Errorf("http-connect: %w", err))
	}
	conn.SetDeadline(time.Time{}) // the dial has its own timeout
	target, err := service.DialAside(ctx, service.DialerFunc(func(ctx context.Context) (net.Conn, error) { return h.dial(ctx, host, port) }))
	if err != nil {
		if errors.Is(err, ErrDenied) {
			writeStatus(conn, http.StatusForbidden, "")
			return server.WithReason(server.ReasonDenied, fmt.Errorf("http-connect: %w", err))
		}
		writeStatus(conn, http.StatusBadGateway, "")
		return server.WithReason(server.ReasonDialFailed, fmt.Errorf("http-connect: %w", err))
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		target.Close()
		return fmt.Errorf("http-connect: reply: %w", err)
	}
	client := conn
	if br.Buffered() > 0 {
		// The client sent tunnel bytes right behind its request.
		early, _ := br.Peek(br.Buffered())
		client = &prefixConn{Conn: conn, prefix: append([]byte(nil), early...)}
	}
	_, err = relay.Pipe(ctx, client, target, relay.Options{IdleTimeout: h.IdleTimeout})
	if errors.Is(err, relay.ErrIdleTimeout) {
		return server.WithReason(server.ReasonIdleTimeout, err)
	}
	return err
}

// readConnect reads and checks the request. On error, status is the HTTP
// status to answer with (0 for none: the client is gone or speaks nonsense).
func (h *HTTPConnect) readConnect(br *bufio.Reader) (host string, port uint16, status int, err error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err) {
			return "", 0, 0, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		return "", 0, http.StatusBadRequest, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if req.Method != http.MethodConnect {
		return "", 0, http.StatusMethodNotAllowed, fmt.Errorf("%w: method %s (CONNECT only)", ErrHandshake, req.Method)
	}
	if h.Auth != nil {
		user, pass, ok := proxyBasicAuth(req.Header.Get("Proxy-Authorization"))
		if !ok || !h.Auth(user, pass) {
			return "", 0, http.StatusProxyAuthRequired, fmt.Errorf("%w: authentication failed for user %q", ErrHandshake, user)
		}
	}
	hostStr, portStr, err := net.SplitHostPort(req.Host)
	if err != nil || hostStr == "" {
		return "", 0, http.StatusBadRequest, fmt.Errorf("%w: CONNECT target %q is not HOST:PORT", ErrHandshake, req.Host)
	}
	p, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || p == 0 {
		return "", 0, http.StatusBadRequest, fmt.Errorf("%w: CONNECT target %q has a bad port", ErrHandshake, req.Host)
	}
	return hostStr, uint16(p), 0, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// proxyBasicAuth decodes a "Basic" Proxy-Authorization value.
func proxyBasicAuth(v string) (user, pass string, ok bool) {
	scheme, cred, found := strings.Cut(v, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok
}

// writeStatus answers with an error status and closes the exchange.
func writeStatus(w io.Writer, code int, extra string) {
	hdr := "Connection: close\r\nContent-Length: 0\r\n"
	if code == http.StatusProxyAuthRequired {
		hdr += "Proxy-Authenticate: Basic realm=\"sockit\"\r\n"
	}
	if code == http.StatusMethodNotAllowed {
		hdr += "Allow: CONNECT\r\n"
	}
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n%s%s\r\n", code, http.StatusText(code), hdr, extra)
}

// prefixConn reads prefix before the socket's bytes.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the socket.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom lets the socket splice what is written to it.
func (c *prefixConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}
