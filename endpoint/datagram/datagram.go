// Package datagram turns a connectionless socket (UDP or a Unix datagram
// socket) into a net.Listener of per-peer sessions, so that servers, relays
// and services treat connectionless peers like connections.
//
// Each session is a net.Conn whose Read returns one datagram from its peer and
// whose Write sends one datagram to it. A session ends after IdleTimeout with
// no datagram either way, or when closed. Datagrams for a session whose queue
// is full are dropped, as the network may drop them.
package datagram

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultIdleTimeout ends a session that has been silent this long when
// Config.IdleTimeout is zero.
const DefaultIdleTimeout = 60 * time.Second

// maxDatagram is the largest datagram read: the UDP maximum.
const maxDatagram = 64 * 1024

// Config tunes a Listener. The zero value is ready to use.
type Config struct {
	// IdleTimeout ends a session after this long with no datagram in
	// either direction; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// QueueLen is how many datagrams a session buffers before dropping; zero
	// means 64.
	QueueLen int
	// Logger receives drop and error diagnostics; nil discards them.
	Logger *slog.Logger
}

// Listener demultiplexes one packet socket into per-peer sessions.
type Listener struct {
	pc      net.PacketConn
	cfg     Config
	accept  chan *Session
	closed  chan struct{}
	once    sync.Once
	onClose func()

	mu       sync.Mutex
	sessions map[string]*Session
	readErr  error
}

var _ net.Listener = (*Listener)(nil)

// NewListener starts demultiplexing pc. onClose, if not nil, runs once when the
// listener closes (to remove a socket file, say). The listener owns pc.
func NewListener(pc net.PacketConn, cfg Config, onClose func()) *Listener {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Listener{
		pc:       pc,
		cfg:      cfg,
		accept:   make(chan *Session),
		closed:   make(chan struct{}),
		onClose:  onClose,
		sessions: make(map[string]*Session),
	}
	go l.readLoop()
	return l
}

// PacketConn returns the underlying socket.
func (l *Listener) PacketConn() net.PacketConn { return l.pc }

func (l *Listener) readLoop() {
	buf := make([]byte, maxDatagram)
	for {
		n, peer, err := l.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			// ICMP errors and the like concern one peer; keep serving.
			l.cfg.Logger.Debug("datagram read failed", "err", err)
			continue
		}
		if peer == nil || peer.String() == "" {
			l.cfg.Logger.Warn("datagram from an unnamed peer dropped: it cannot be answered", "bytes", n)
			continue
		}
		msg := make([]byte, n)
		copy(msg, buf[:n])
		key := peer.String()
		l.mu.Lock()
		s, ok := l.sessions[key]
		if !ok {
			s = newSession(l, peer)
			l.sessions[key] = s
		}
		l.mu.Unlock()
		s.deliver(msg)
		if !ok {
			select {
			case l.accept <- s:
			case <-l.closed:
				return
			}
		}
	}
}

// Accept waits for a datagram from a new peer and returns its session.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case s := <-l.accept:
		return s, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the listener, ends every session and closes the socket.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.closed)
		err = l.pc.Close()
		l.mu.Lock()
		ss := make([]*Session, 0, len(l.sessions))
		for _, s := range l.sessions {
			ss = append(ss, s)
		}
		l.mu.Unlock()
		for _, s := range ss {
			s.Close()
		}
		if l.onClose != nil {
			l.onClose()
		}
	})
	return err
}

// Addr returns the socket's local address.
func (l *Listener) Addr() net.Addr { return l.pc.LocalAddr() }

func (l *Listener) remove(s *Session) {
	l.mu.Lock()
	if l.sessions[s.peer.String()] == s {
		delete(l.sessions, s.peer.String())
	}
	l.mu.Unlock()
}

// Session is one peer's conversation with a datagram listener.
type Session struct {
	l     *Listener
	peer  net.Addr
	queue chan []byte

	mu       sync.Mutex
	closed   chan struct{}
	isClosed bool
	deadline time.Time
	timer    *time.Timer
	kick     chan struct{} // replaced whenever the read deadline changes
	lastUsed time.Time
}

var _ net.Conn = (*Session)(nil)

func newSession(l *Listener, peer net.Addr) *Session {
	s := &Session{
		l:        l,
		peer:     peer,
		queue:    make(chan []byte, l.cfg.QueueLen),
		closed:   make(chan struct{}),
		kick:     make(chan struct{}),
		lastUsed: time.Now(),
	}
	s.timer = time.AfterFunc(l.cfg.IdleTimeout, s.idleCheck)
	return s
}

func (s *Session) touch() {
	s.mu.Lock()
	s.lastUsed = time.Now()
	s.mu.Unlock()
}

func (s *Session) idleCheck() {
	s.mu.Lock()
	left := s.l.cfg.IdleTimeout - time.Since(s.lastUsed)
	closed := s.isClosed
	s.mu.Unlock()
	if closed {
		return
	}
	if left > 0 {
		s.timer.Reset(left)
		return
	}
	s.Close()
}

func (s *Session) deliver(msg []byte) {
	s.touch()
	select {
	case s.queue <- msg:
	default:
		s.l.cfg.Logger.Warn("datagram dropped: session queue full", "peer", s.peer.String(), "bytes", len(msg))
	}
}

// Read returns the next datagram from the peer, truncated to len(p).
func (s *Session) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		kick, dl := s.kick, s.deadline
		s.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		n, err, again := s.wait(p, kick, timeout)
		if t != nil {
			t.Stop()
		}
		if !again {
			return n, err
		}
	}
}

// wait waits for a datagram, the end of the session, the deadline or a
// change of deadline (again is then true).
func (s *Session) wait(p []byte, kick <-chan struct{}, timeout <-chan time.Time) (n int, err error, again bool) {
	select {
	case msg := <-s.queue:
		return copy(p, msg), nil, false
	case <-s.closed:
		select {
		case msg := <-s.queue:
			return copy(p, msg), nil, false
		default:
		}
		return 0, net.ErrClosed, false
	case <-timeout:
		return 0, os.ErrDeadlineExceeded, false
	case <-kick:
		// The deadline changed; wait again with the new one.
		return 0, nil, true
	}
}

// Write sends p to the peer as one datagram.
func (s *Session) Write(p []byte) (int, error) {
	select {
	case <-s.closed:
		return 0, net.ErrClosed
	default:
	}
	s.touch()
	return s.l.pc.WriteTo(p, s.peer)
}

// Close ends the session; a later datagram from the same peer starts a new one.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return nil
	}
	s.isClosed = true
	s.mu.Unlock()
	// Unmap first, so a datagram that arrives once readers see the end
	// starts a new session instead of landing in this one.
	s.l.remove(s)
	s.timer.Stop()
	close(s.closed)
	return nil
}

// LocalAddr returns the listener's address.
func (s *Session) LocalAddr() net.Addr { return s.l.pc.LocalAddr() }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.peer }

// SetDeadline sets the read deadline; writes never block.
func (s *Session) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

// SetReadDeadline makes Read fail with os.ErrDeadlineExceeded after t.
func (s *Session) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	close(s.kick)
	s.kick = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// SetWriteDeadline is accepted and ignored: a datagram write does not block.
func (s *Session) SetWriteDeadline(time.Time) error { return nil }

// Datagram marks a Session as message-oriented: each Read is one datagram.
func (s *Session) Datagram() bool { return true }
