//go:build linux

package fast

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"sockit/server"
)

const (
	bufSize      = 64 << 10 // one read buffer per loop
	maxEvents    = 256      // events taken per epoll_wait
	acceptBatch  = 64       // accepts per wake before serving events again
	probeEvery   = 8        // single-accept wakes between two probes of the queue
	readsPerTurn = 16       // reads of one connection before the others' turn
)

// conn is an echo or discard connection. While idle it holds no buffer: the
// loop reads into its shared buffer and only keeps what the client is not
// yet ready to take back.
type conn struct {
	fd      int
	pending []byte // echoed bytes the socket did not take yet
	eof     bool   // the client half-closed; finish once pending is written
	queued  bool   // in loop.ready
	last    int64  // unix nanoseconds of the last byte moved
}

// loop is one event loop: a goroutine, an epoll instance, its connections
// (indexed by descriptor) and one read buffer.
type loop struct {
	s         *Server
	ep        int
	wake      int // eventfd written by Shutdown and Close
	lfd       int
	accepting bool
	paused    bool // accepting paused after running out of descriptors
	resume    time.Time
	delay     time.Duration
	conns     []*conn
	n         int       // counted connections (echo, discard)
	lingering []greeted // greeted sockets waiting for their client to close, oldest first
	nextDrain time.Time
	buf       []byte
	ready     []*conn
	events    []unix.EpollEvent
	nextSweep time.Time
	raw       bool                // wait with a raw system call, see wait
	peer      unix.RawSockaddrAny // filled in by acceptPeer
	single    bool                // accept one connection per wake, see accept
	singles   int                 // single-accept wakes since the last probe
}

func newLoop(s *Server, lfd int) (*loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &loop{s: s, ep: ep, wake: wake, lfd: lfd, accepting: true, events: make([]unix.EpollEvent, maxEvents)}
	l.buf = make([]byte, bufSize)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	if err := l.watchListener(); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return l, nil
}

// watchListener adds the listening socket to the loop's epoll set. With
// EPOLLEXCLUSIVE a new connection wakes one waiting loop, not all of them.
func (l *loop) watchListener() error {
	return unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.lfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.lfd)})
}

func (l *loop) close() {
	unix.Close(l.ep)
	unix.Close(l.wake)
}

// wait returns the next events, blocking in epoll_wait at most until the
// loop's next timed task. (Parking the goroutine on the epoll descriptor
// through the runtime's poller instead was measured: it cost more CPU per
// greeted connection, 31-46 µs against 28-33 µs.)
//
// A loop that leaves the runtime a free P (the one greeting loop on two or
// more CPUs) blocks without telling the scheduler (a raw system call): the
// scheduler would otherwise take its P away after 20 µs and hand it back
// when epoll_wait returns, once per connection, which keeps sysmon polling
// every 20 µs and cost 5-8 % of the one-client greeting rate. The runtime's
// preemption signal interrupts the call (EINTR) and the loop then yields.
func (l *loop) wait() (int, error) {
	if !l.raw {
		return unix.EpollWait(l.ep, l.events, l.timeout())
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), uintptr(l.timeout()), 0, 0)
	if e != 0 {
		if e == unix.EINTR {
			runtime.Gosched()
		}
		return 0, e
	}
	return int(r), nil
}

// wakeUp makes the loop look at the server's state.
func (l *loop) wakeUp() {
	var one = [8]byte{1}
	unix.Write(l.wake, one[:])
}

// run serves until the server is closed, or until it drains and the loop
// has no connection left.
func (l *loop) run() {
	for {
		n, err := l.wait()
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.s.logger().Error("epoll_wait failed; closing the loop's connections", "err", err)
			l.stopAccepting()
			l.closeAll(server.ReasonError)
			return
		}
		now := time.Now()
		for i := range n {
			ev := &l.events[i]
			switch fd := int(ev.Fd); {
			case fd == l.wake:
				var b [8]byte
				unix.Read(l.wake, b[:])
				switch l.s.state.Load() {
				case stateDraining:
					l.stopAccepting()
				case stateClosed:
					l.stopAccepting()
					l.closeAll(server.ReasonServerShutdown)
					return
				}
			case fd == l.lfd && l.accepting:
				l.accept(now)
			default:
				if fd < len(l.conns) && l.conns[fd] != nil {
					l.event(l.conns[fd], ev.Events, now)
				}
			}
		}
		l.serveReady(now)
		if l.paused && !now.Before(l.resume) && l.accepting {
			if err := l.watchListener(); err == nil {
				l.paused = false
			}
		}
		if l.sweeping() && !now.Before(l.nextSweep) {
			l.sweep(now)
		}
		if len(l.lingering) > 0 && !now.Before(l.nextDrain) {
			l.drainLingering(now, false)
		}
		if !l.accepting && l.n == 0 && len(l.lingering) == 0 {
			return
		}
	}
}

// timeout is how long epoll_wait may block: for ever, unless connections
// wait for their turn, accepting is paused or idle connections are watched.
func (l *loop) timeout() int {
	if len(l.ready) > 0 {
		return 0
	}
	next := l.nextTask()
	if next.IsZero() {
		return -1
	}
	ms := time.Until(next).Milliseconds() + 1
	return int(max(ms, 0))
}

// sweeping reports whether some connection may need closing by time.
func (l *loop) sweeping() bool {
	return l.s.IdleTimeout > 0 && l.n > 0
}

// nextTask returns when the loop has timed work to do, or the zero time.
func (l *loop) nextTask() time.Time {
	var next time.Time
	if l.paused {
		next = l.resume
	}
	if l.sweeping() && (next.IsZero() || l.nextSweep.Before(next)) {
		next = l.nextSweep
	}
	if len(l.lingering) > 0 && (next.IsZero() || l.nextDrain.Before(next)) {
		next = l.nextDrain
	}
	return next
}

// stopAccepting takes the listening socket out of the loop's epoll set and
// tells the server, which closes it once no loop watches it.
func (l *loop) stopAccepting() {
	if !l.accepting {
		return
	}
	l.accepting = false
	if !l.paused {
		unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lfd, nil)
	}
	l.s.accepted.Done()
}

// accept takes new connections: up to acceptBatch while connections come
// faster than the loop wakes up, one per wake while each wake finds just
// one. Then the accept4 that would only say EAGAIN is left out, since the
// level-triggered listener wakes the loop again at once if another is
// waiting; every probeEvery-th wake takes a batch again to notice when
// connections start to queue up.
func (l *loop) accept(now time.Time) {
	limit := acceptBatch
	if l.single {
		if l.singles++; l.singles < probeEvery {
			limit = 1
		} else {
			l.singles = 0
		}
	}
	taken := l.acceptUpTo(limit, now)
	if limit > 1 {
		l.single = taken == 1
	}
}

// acceptUpTo accepts and starts serving up to limit connections; it returns
// how many it accepted.
func (l *loop) acceptUpTo(limit int, now time.Time) (taken int) {
	s := l.s
	for range limit {
		fd, peer, err := l.acceptPeer()
		if err != nil {
			if err == unix.EAGAIN {
				return taken
			}
			if isTemporary(err) {
				continue
			}
			// Out of descriptors or memory: stop watching the socket for a
			// while instead of spinning; the queue keeps the clients.
			l.delay = nextDelay(l.delay)
			l.paused, l.resume = true, now.Add(l.delay)
			unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lfd, nil)
			s.logger().Warn("accept failed; retrying", "err", err, "retry_in", l.delay)
			return taken
		}
		l.delay = 0
		taken++
		if s.log != nil {
			s.log.add(peer)
		}
		if s.Service == Greet {
			l.greet(fd, now)
			continue
		}
		if s.MaxConns > 0 && s.active.Load() >= int64(s.MaxConns) {
			unix.Close(fd)
			s.logger().Warn("connection refused", "remote", peer.String(), "reason", server.ReasonMaxConns, "max_conns", s.MaxConns)
			continue
		}
		l.add(fd, now)
	}
	return taken
}

// nextDelay doubles the accept retry delay from 5 ms up to 1 s.
func nextDelay(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// add puts an echo or discard connection into the loop, edge-triggered.
// EPOLLOUT is asked for once here, so a connection
// whose echo is held back needs no epoll_ctl to resume.
func (l *loop) add(fd int, now time.Time) {
	c := &conn{fd: fd, last: now.UnixNano()}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		l.s.logger().Warn("connection dropped", "err", fmt.Errorf("epoll_ctl: %w", err))
		return
	}
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*conn, max(len(l.conns), 64))...)
	}
	l.conns[fd] = c
	l.n++
	l.s.active.Add(1)
}

// event handles one epoll event of c.
func (l *loop) event(c *conn, ev uint32, now time.Time) {
	if len(c.pending) > 0 {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return // input waits until the client takes its echo
		}
		if !l.flush(c, now) {
			return
		}
	}
	if !c.queued {
		l.read(c, now, ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0)
	}
}

// read serves c's input: up to readsPerTurn reads, then c waits for its
// next turn in l.ready so that one busy client cannot starve the others.
// A short read ends the turn when shortOK: edge-triggered epoll reports the
// next bytes. It must not when the event said the input ended, because a
// read stops short of the end of input.
func (l *loop) read(c *conn, now time.Time, shortOK bool) {
	for range readsPerTurn {
		n, err := unix.Read(c.fd, l.buf)
		switch {
		case n > 0:
			c.last = now.UnixNano()
			if l.s.Service == Echo && !l.write(c, l.buf[:n], now) {
				return
			}
			if shortOK && n < len(l.buf) {
				// The socket is empty: edge-triggered epoll reports the
				// next bytes or the end, so skip the read that would only
				// say EAGAIN.
				return
			}
		case n == 0 && err == nil:
			c.eof = true
			l.finish(c)
			return
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR):
		default:
			l.drop(c, err)
			return
		}
	}
	c.queued = true
	l.ready = append(l.ready, c)
}

// serveReady gives the connections that had more input their next turn.
func (l *loop) serveReady(now time.Time) {
	if len(l.ready) == 0 {
		return
	}
	ready := l.ready
	l.ready = nil
	for _, c := range ready {
		c.queued = false
		if c.fd >= 0 && len(c.pending) == 0 {
			l.read(c, now, false)
		}
	}
	clear(ready)
	if l.ready == nil {
		l.ready = ready[:0]
	}
}

// write echoes p to c. It reports whether c can take more: when the socket
// is full the rest is kept (a copy: p is the loop's buffer) and c's input
// waits until EPOLLOUT says it drained.
func (l *loop) write(c *conn, p []byte, now time.Time) bool {
	n, err := unix.Write(c.fd, p)
	if n == len(p) {
		return true
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		l.drop(c, err)
		return false
	}
	c.pending = append([]byte(nil), p[max(n, 0):]...)
	return false
}

// flush writes c's pending echo. It reports whether c is drained and open.
func (l *loop) flush(c *conn, now time.Time) bool {
	for len(c.pending) > 0 {
		n, err := unix.Write(c.fd, c.pending)
		if n > 0 {
			c.pending = c.pending[n:]
			c.last = now.UnixNano()
		}
		if errors.Is(err, unix.EAGAIN) {
			return false
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.drop(c, err)
			return false
		}
	}
	c.pending = nil
	if c.eof {
		l.finish(c)
		return false
	}
	return true
}

// finish ends c after the client's end of input: an echo connection is
// half-closed first (once its echo is written), as service.Echo does.
func (l *loop) finish(c *conn) {
	if len(c.pending) > 0 {
		return // flush finishes it
	}
	if l.s.Service == Echo {
		unix.Shutdown(c.fd, unix.SHUT_WR)
	}
	l.remove(c)
}

// drop ends c after an error, logging the reason as server.Server does.
func (l *loop) drop(c *conn, err error) {
	reason := server.ReasonOf(err)
	l.s.logger().Info("connection closed", "remote", peerName(c.fd), "reason", reason, "err", err)
	l.remove(c)
}

func (l *loop) remove(c *conn) {
	l.conns[c.fd] = nil
	unix.Close(c.fd) // also takes it out of the epoll set
	c.fd = -1
	c.pending = nil
	l.n--
	l.s.active.Add(-1)
}

// closeAll closes every connection of the loop.
func (l *loop) closeAll(reason server.ClosedReason) {
	for _, c := range l.conns {
		if c != nil {
			l.remove(c)
		}
	}
	for _, g := range l.lingering {
		unix.Close(g.fd)
	}
	l.lingering = nil
	l.ready = nil
}

// sweep closes connections idle for IdleTimeout; it runs every eighth of
// it, so a connection lives at most 1.125 times it.
func (l *loop) sweep(now time.Time) {
	idle := l.s.IdleTimeout
	l.nextSweep = now.Add(max(idle/8, time.Millisecond))
	cut := now.Add(-idle).UnixNano()
	for _, c := range l.conns {
		if c != nil && c.last <= cut {
			l.s.logger().Info("connection closed", "remote", peerName(c.fd), "reason", server.ReasonIdleTimeout)
			l.remove(c)
		}
	}
}
