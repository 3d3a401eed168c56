package loadgen

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// rawGreeter connects and reads with blocking system calls on a plain
// socket, bypassing the runtime's network poller. A greeting load is one
// short-lived connection after another; through the net package each costs
// poller registration, a goroutine park and wake-up and several allocations,
// which on a 2-core machine shared with the server made the load generator,
// not the server, the bottleneck. Blocking calls cost one thread per worker,
// which a greeting load's worker count (at most a few hundred) allows.
type rawGreeter struct {
	dst     syscall.SockaddrInet4
	srcs    []syscall.SockaddrInet4 // empty: the system's choice
	timeout time.Duration
}

// pollEvery is how often a blocked read checks whether the load was
// cancelled.
const pollEvery = 100 * time.Millisecond

// newRawGreeter returns a rawGreeter for an IPv4 literal address, or nil
// when the address needs the general path.
func newRawGreeter(network, address string, sourceIPs int, timeout time.Duration) *rawGreeter {
	if network != "tcp" && network != "tcp4" {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Is4() {
		return nil
	}
	g := &rawGreeter{dst: syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, timeout: timeout}
	if sourceIPs > 1 {
		src := netip.MustParseAddr("127.0.0.1")
		for range sourceIPs {
			g.srcs = append(g.srcs, syscall.SockaddrInet4{Addr: src.As4()})
			src = src.Next()
		}
	}
	return g
}

// greet makes one connection (number i, which picks the source address),
// reads until the server closes into buf and returns the bytes read.
// deadline bounds the whole operation.
func (g *rawGreeter) greet(ctx context.Context, i int, buf []byte, deadline time.Time) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer syscall.Close(fd)
	// SO_SNDTIMEO bounds connect(2) as well as writes.
	tv := syscall.NsecToTimeval(max(int64(time.Until(deadline)), int64(time.Millisecond)))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv); err != nil {
		return 0, os.NewSyscallError("setsockopt", err)
	}
	// Reads wake up every pollEvery to notice a cancelled load.
	tv = syscall.NsecToTimeval(int64(min(time.Until(deadline), pollEvery)) + 1000)
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return 0, os.NewSyscallError("setsockopt", err)
	}
	if len(g.srcs) > 0 {
		if err := setBindNoPort(fd); err != nil {
			return 0, os.NewSyscallError("setsockopt", err)
		}
		src := g.srcs[i%len(g.srcs)] // a copy: Bind writes into its Sockaddr
		if err := syscall.Bind(fd, &src); err != nil {
			return 0, os.NewSyscallError("bind", err)
		}
	}
	dst := g.dst // a copy: Connect writes into its Sockaddr
	for {
		err = syscall.Connect(fd, &dst)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		if err == syscall.EINPROGRESS || err == syscall.EAGAIN {
			err = syscall.ETIMEDOUT
		}
		return 0, fmt.Errorf("dial %d.%d.%d.%d:%d: %w", g.dst.Addr[0], g.dst.Addr[1], g.dst.Addr[2], g.dst.Addr[3], g.dst.Port, os.NewSyscallError("connect", err))
	}
	n := 0
	for {
		if n == len(buf) {
			return n, nil
		}
		m, err := syscall.Read(fd, buf[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			if time.Now().Before(deadline) {
				continue
			}
			return n, fmt.Errorf("read greeting after %d bytes: %w", n, os.ErrDeadlineExceeded)
		case err != nil:
			return n, fmt.Errorf("read greeting after %d bytes: %w", n, os.NewSyscallError("read", err))
		case m == 0:
			return n, nil
		}
		n += m
	}
}
