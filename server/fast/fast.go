// Package fast is sockit's fast server for plain TCP: the greeting, echo and
// discard services served from a few event loops instead of a goroutine per
// connection.
//
// Each loop is one goroutine with its own epoll instance, its share of the
// connections and one read buffer. All loops wait on the one listening
// socket (EPOLLEXCLUSIVE, so a new connection wakes one loop) and accept in
// batches with accept4(2). A greeting is written inline in the accept loop,
// where a fresh socket's send buffer always takes it, together with the
// half-close; the socket then waits in a queue, outside epoll, for its
// client to close: no goroutine and no poller registration per connection.
// Echo and discard connections stay in the loop that accepted them,
// edge-triggered; an idle one costs a small struct and no buffer, goroutine
// or extra descriptor. The per-connection log line is queued and written by
// its own goroutine, off the accept path.
//
// The general server.Server serves every other case (TLS, PROXY protocol,
// access rules, exec, Unix sockets, datagrams); this package is a separate
// server kind behind the same services, not a replacement for it. Its
// lifecycle is server.Server's: Serve returns server.ErrServerClosed after
// Shutdown or Close; Shutdown stops accepting and lets connections in flight
// finish until its context ends; Close is immediate; both may be called more
// than once.
package fast

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Service is what the fast server does with each connection.
type Service int

// The services the fast server runs.
const (
	// Greet sends Message and closes the connection.
	Greet Service = iota
	// Echo sends back everything a client sends until it half-closes, then
	// half-closes and closes.
	Echo
	// Discard reads and drops everything until the client closes.
	Discard
)

// ErrUnsupported is returned by Serve where the fast server cannot run (not
// Linux, or not a TCP listener); callers use server.Server instead.
var ErrUnsupported = errors.New("fast server not supported here")

// Server serves one plain TCP listener with event loops. Fields must not
// change once Serve has been called.
type Server struct {
	// Service chooses greet, echo or discard.
	Service Service
	// Message is the greeting; it must not be empty for Greet.
	Message []byte
	// Loops is the number of event loops; zero means one for Greet and
	// GOMAXPROCS for Echo and Discard.
	Loops int
	// MaxConns caps the connections served at once; over the cap a new
	// connection is closed at once and logged. Zero means no cap. A greeted
	// connection is finished as soon as it is accepted and does not count.
	MaxConns int
	// IdleTimeout closes an echo or discard connection when no byte has
	// moved for this long; zero never does.
	IdleTimeout time.Duration
	// Linger bounds how long a greeted connection whose client sent bytes
	// is drained before closing, so that the unread bytes do not reset it
	// before the client has read the greeting; zero means 2 s.
	Linger time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// LogConnections logs "Got connection from ADDR" at Info for every
	// accepted connection, from a goroutine of its own.
	LogConnections bool

	mu       sync.Mutex
	state    atomic.Int32
	lfd      int
	loops    []*loop
	accepted sync.WaitGroup // loops still watching the listening socket
	lfdOnce  sync.Once
	done     chan struct{} // closed when every loop has returned
	active   atomic.Int64
	log      *connLog

	slowMu sync.Mutex
	slow   map[net.Conn]struct{} // greeted connections being drained
	slowWG sync.WaitGroup
}

// Server states, in the order they happen.
const (
	stateNew int32 = iota
	stateServing
	stateDraining // Shutdown: not accepting, connections finish
	stateClosed   // Close: everything closed
)

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) linger() time.Duration {
	if s.Linger <= 0 {
		return 2 * time.Second
	}
	return s.Linger
}

// ActiveConns returns the number of connections being served.
func (s *Server) ActiveConns() int { return int(s.active.Load()) }

// Shutdown stops accepting, then waits for the connections in flight to
// finish. If ctx ends first, it closes the rest and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	switch s.state.Load() {
	case stateNew:
		s.state.Store(stateClosed)
		s.mu.Unlock()
		return nil
	case stateServing:
		s.state.Store(stateDraining)
		s.wakeLoops()
	}
	done := s.done
	s.mu.Unlock()
	s.closeListener()

	finished := make(chan struct{})
	go func() {
		<-done
		s.slowWG.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.Close()
		<-finished
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	prev := s.state.Swap(stateClosed)
	if prev == stateServing || prev == stateDraining {
		s.wakeLoops()
	}
	done := s.done
	s.mu.Unlock()
	if prev == stateNew {
		return nil
	}
	s.closeListener()
	s.slowMu.Lock()
	for c := range s.slow {
		c.Close()
	}
	s.slowMu.Unlock()
	<-done
	return nil
}

func (s *Server) wakeLoops() {
	for _, l := range s.loops {
		l.wakeUp()
	}
}
