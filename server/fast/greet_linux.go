//go:build linux

package fast

import (
	"time"

	"golang.org/x/sys/unix"
)

// greeted is a greeted socket, half-closed, waiting for its client to
// close.
type greeted struct {
	fd    int
	since int64 // unix nanoseconds
}

const (
	// drainTick is how often lingering greeted sockets are looked at.
	drainTick = 10 * time.Millisecond
	// maxLingering bounds the greeted sockets kept open; past it the oldest
	// is closed early.
	maxLingering = 4096
)

// greet writes the greeting inline, where a fresh socket's send buffer
// always takes it, and half-closes in the same segment (MSG_MORE holds the
// bytes until shutdown adds the FIN), so the client wakes once. The socket
// is not closed at once: that would answer bytes the client sends (a
// request, its own half-close racing the greeting) with a reset. It waits in
// a queue, outside epoll, and every drainTick the loop drains the queue's
// sockets and closes those whose client has closed, as service.Greet does
// with its linger: no epoll registration and no wake-up per connection.
func (l *loop) greet(fd int, now time.Time) {
	msg := l.s.Message
	n, err := l.sendFlags(fd, msg, unix.MSG_MORE|unix.MSG_NOSIGNAL)
	if err != 0 && err != unix.EAGAIN {
		l.closeSocket(fd) // the client is gone already
		return
	}
	if n != len(msg) {
		l.s.handOff(fd, msg[max(n, 0):])
		return
	}
	if l.shutdownWrite(fd) != 0 {
		l.closeSocket(fd)
		return
	}
	if len(l.lingering) == 0 {
		l.nextDrain = now.Add(drainTick)
	}
	l.lingering = append(l.lingering, greeted{fd: fd, since: now.UnixNano()})
	if len(l.lingering) > maxLingering {
		l.drainLingering(now, true)
	}
}

// drainLingering reads and drops what the lingering greeted sockets'
// clients sent, and closes each whose client has closed, that has lingered
// for Linger, or, when full, that is the oldest.
func (l *loop) drainLingering(now time.Time, full bool) {
	young := now.Add(-drainTick).UnixNano()
	old := now.Add(-l.s.linger()).UnixNano()
	keep := l.lingering[:0]
	for i, g := range l.lingering {
		switch {
		case g.since > young && !(full && i == 0):
			keep = append(keep, g)
		case g.since <= old || (full && i == 0) || l.clientDone(g.fd):
			l.closeSocket(g.fd)
		default:
			keep = append(keep, g)
		}
	}
	clear(l.lingering[len(keep):])
	l.lingering = keep
	l.nextDrain = now.Add(drainTick)
}

// clientDone reads and drops a greeted socket's input; it reports whether
// the client has closed (or the socket failed, or sent too much).
func (l *loop) clientDone(fd int) bool {
	for range 16 {
		n, err := l.readSocket(fd, l.buf)
		switch {
		case n == 0:
			return true
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
		case err != 0:
			return true
		}
	}
	return true // 1 MiB and counting: not a greeting client
}
