// Package server serves connections from any listener with a Handler: the
// accept loop, connection tracking and graceful shutdown every sockit
// service runs on.
//
// Its lifecycle follows net/http: Serve always returns an error,
// ErrServerClosed after Shutdown or Close; accept errors back off from 5 ms
// to 1 s instead of spinning or exiting; Shutdown drains, Close is immediate,
// and both may be called more than once.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server closed")

// Handler serves one connection. The server closes the connection when
// ServeConn returns; ctx is cancelled when the server is closed.
type Handler interface {
	ServeConn(ctx context.Context, conn net.Conn) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, conn net.Conn) error

// ServeConn calls f(ctx, conn).
func (f HandlerFunc) ServeConn(ctx context.Context, conn net.Conn) error { return f(ctx, conn) }

// Middleware wraps a Handler with behaviour of its own.
type Middleware func(Handler) Handler

// Chain applies middleware to h so that the first one listed runs first.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Server serves connections with a Handler. Its zero value is not usable:
// Handler is required. Fields must not change once Serve has been called.
type Server struct {
	// Handler serves each accepted connection.
	Handler Handler
	// Logger receives the server's diagnostics; nil discards them.
	Logger *slog.Logger
	// MaxConns caps the connections served at once; over the cap a new
	// connection is closed at once and logged. Zero means no cap.
	MaxConns int

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[net.Conn]struct{}
	shutdown  bool
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

func (s *Server) init() {
	if s.conns == nil {
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[net.Conn]struct{})
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve accepts connections on ln and serves each in its own goroutine until
// the server is shut down. It always returns a non-nil error: ErrServerClosed
// after Shutdown or Close. Temporary accept failures (out of descriptors,
// aborted handshakes) are logged and retried with backoff. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.init()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[&ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			}
			delay = nextDelay(delay)
			s.logger().Warn("accept failed; retrying", "addr", ln.Addr().String(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		if !s.track(conn) {
			continue
		}
		go s.serveConn(conn)
	}
}

// nextDelay doubles the accept retry delay from 5 ms up to 1 s.
func nextDelay(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	if d *= 2; d > time.Second {
		d = time.Second
	}
	return d
}

// track registers conn; it refuses (and closes) it after shutdown began or
// when MaxConns is reached.
func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		conn.Close()
		return false
	}
	if s.MaxConns > 0 && len(s.conns) >= s.MaxConns {
		conn.Close()
		s.logger().Warn("connection refused", "remote", conn.RemoteAddr().String(), "reason", ReasonMaxConns, "max_conns", s.MaxConns)
		return false
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) serveConn(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		conn.Close()
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("handler panic", "remote", addrString(conn.RemoteAddr()), "reason", ReasonPanic, "panic", fmt.Sprint(r))
		}
	}()
	if err := s.Handler.ServeConn(s.ctx, conn); err != nil {
		reason := ReasonOf(err)
		if s.closing() && reason == ReasonError {
			reason = ReasonServerShutdown
		}
		if reason == ReasonServerShutdown && errors.Is(err, net.ErrClosed) {
			// The shutdown closed the connection: that is the whole story.
			s.logger().Info("connection closed", "remote", addrString(conn.RemoteAddr()), "reason", reason)
			return
		}
		s.logger().Info("connection closed", "remote", addrString(conn.RemoteAddr()), "reason", reason, "err", err)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// beginShutdown marks the server closed and closes its listeners.
func (s *Server) beginShutdown() {
	s.mu.Lock()
	s.init()
	s.shutdown = true
	for ln := range s.listeners {
		(*ln).Close()
	}
	s.mu.Unlock()
}

// Shutdown stops accepting, then waits for the connections in flight to
// finish. If ctx ends first, it closes the rest and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.beginShutdown()
	s.mu.Lock()
	s.cancel()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return nil
}

// ActiveConns returns the number of connections being served.
func (s *Server) ActiveConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
