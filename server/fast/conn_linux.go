//go:build linux

package fast

import (
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// handOff finishes a greeting the accept loop could not finish inline (the
// client had already sent bytes, or the greeting did not fit the socket's
// buffer) in a goroutine of its own, as service.Greet does: write the rest,
// half-close, drain for up to Linger so that closing does not reset the
// connection before the client has read the greeting.
func (s *Server) handOff(fd int, rest []byte) {
	f := os.NewFile(uintptr(fd), "greet")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		s.logger().Warn("connection dropped", "err", err)
		return
	}
	s.slowMu.Lock()
	if s.state.Load() == stateClosed || (s.MaxConns > 0 && s.active.Load() >= int64(s.MaxConns)) {
		s.slowMu.Unlock()
		c.Close()
		return
	}
	s.slow[c] = struct{}{}
	s.slowWG.Add(1)
	s.active.Add(1)
	s.slowMu.Unlock()
	go func() {
		defer func() {
			c.Close()
			s.slowMu.Lock()
			delete(s.slow, c)
			s.slowMu.Unlock()
			s.active.Add(-1)
			s.slowWG.Done()
		}()
		if len(rest) > 0 {
			if _, err := c.Write(rest); err != nil {
				return
			}
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.linger()))
		io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	}()
}

// sockaddrPort converts an accepted peer's address, writing IPv4-mapped
// IPv6 addresses as IPv4, as net.TCPAddr does.
func sockaddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if a.Is4In6() {
			a = a.Unmap()
		} else if sa.ZoneId != 0 {
			zone := strconv.Itoa(int(sa.ZoneId))
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				zone = ifi.Name
			}
			a = a.WithZone(zone)
		}
		return netip.AddrPortFrom(a, uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// peerName returns fd's peer address for a log line.
func peerName(fd int) string {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return ""
	}
	return sockaddrPort(sa).String()
}
