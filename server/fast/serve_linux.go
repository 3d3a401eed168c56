//go:build linux

package fast

import (
	"errors"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"

	"sockit/server"
)

// Serve takes over ln, which must be a *net.TCPListener, and serves it until
// Shutdown or Close; it then returns server.ErrServerClosed. Serve closes ln
// at once and works on a duplicate of its socket, so that the runtime's
// poller does not also wake up for every new connection. Serve may be called
// once.
func (s *Server) Serve(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return fmt.Errorf("serve %s: %w: %T is not a TCP listener", ln.Addr(), ErrUnsupported, ln)
	}
	if s.Service == Greet && len(s.Message) == 0 {
		ln.Close()
		return fmt.Errorf("serve %s: empty greeting", ln.Addr())
	}
	s.mu.Lock()
	switch s.state.Load() {
	case stateNew:
	case stateDraining, stateClosed:
		s.mu.Unlock()
		ln.Close()
		return server.ErrServerClosed
	default:
		s.mu.Unlock()
		ln.Close()
		return fmt.Errorf("serve %s: fast.Server.Serve called twice", ln.Addr())
	}
	s.done = make(chan struct{})
	lfd, err := takeListener(tl)
	if err != nil {
		s.state.Store(stateClosed)
		close(s.done)
		s.mu.Unlock()
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	n := s.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
		if s.Service == Greet {
			// One loop greets with the least CPU per connection: a
			// second one on two cores cost 20-40% more and gained no
			// rate (docs/performance.md).
			n = 1
		}
	}
	s.lfd = lfd
	for range n {
		l, err := newLoop(s, lfd)
		if err != nil {
			for _, l := range s.loops {
				l.close()
			}
			s.loops = nil
			unix.Close(lfd)
			s.state.Store(stateClosed)
			close(s.done)
			s.mu.Unlock()
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
		l.raw = n < runtime.GOMAXPROCS(0)
		s.loops = append(s.loops, l)
	}
	if s.LogConnections {
		s.log = newConnLog(s.logger())
	}
	s.slow = make(map[net.Conn]struct{})
	s.accepted.Add(len(s.loops))
	s.state.Store(stateServing)
	s.mu.Unlock()

	finished := make(chan struct{}, len(s.loops))
	for _, l := range s.loops {
		go func() {
			defer func() { finished <- struct{}{} }()
			l.run()
		}()
	}
	for range s.loops {
		<-finished
	}
	for _, l := range s.loops {
		l.close()
	}
	s.closeListener()
	if s.log != nil {
		s.log.close()
	}
	close(s.done)
	return server.ErrServerClosed
}

// takeListener duplicates ln's socket outside the runtime's poller and
// closes ln.
func takeListener(ln *net.TCPListener) (int, error) {
	raw, err := ln.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup listener: %w", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	ln.Close()
	return fd, nil
}

// closeListener closes the listening socket once every loop has stopped
// watching it, so that no loop can accept on a descriptor number that has
// been reused.
func (s *Server) closeListener() {
	s.accepted.Wait()
	s.lfdOnce.Do(func() {
		if s.loops != nil {
			unix.Close(s.lfd)
		}
	})
}

// isTemporary reports whether an accept4 error passes by itself.
func isTemporary(err error) bool {
	return errors.Is(err, unix.ECONNABORTED) || errors.Is(err, unix.EINTR) ||
		errors.Is(err, unix.EPROTO) || errors.Is(err, unix.EPERM)
}
