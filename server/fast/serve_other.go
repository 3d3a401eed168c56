//go:build !linux

package fast

import (
	"fmt"
	"net"
)

// Serve returns ErrUnsupported: the fast server needs Linux's epoll.
func (s *Server) Serve(ln net.Listener) error {
	ln.Close()
	return fmt.Errorf("serve %s: %w", ln.Addr(), ErrUnsupported)
}

func (s *Server) closeListener() {}

type loop struct{}

func (l *loop) wakeUp() {}
