//go:build linux

package fast

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's per-connection system calls, written here rather than taken
// from x/sys/unix for two measured reasons (docs/performance.md):
//
//   - unix.Accept4 allocates the peer's address twice and, for every IPv4
//     peer, asks the listening socket for its protocol (getsockopt
//     SO_PROTOCOL) to tell L2TP addresses apart: one more system call per
//     connection. acceptPeer reads the address from a buffer the loop keeps.
//   - A loop that waits with a raw epoll_pwait (see loop.wait) owns its P
//     anyway, so telling the scheduler about each non-blocking call on a
//     socket (entersyscall, exitsyscall) only costs time. On such a loop the
//     calls below are raw; on the others they go through the scheduler like
//     any system call.

// syscall3 makes a system call of up to three arguments, raw on a raw loop.
// Its arguments must not be pointers: only a uintptr(unsafe.Pointer(...))
// written in the call to a unix.Syscall function itself keeps its object
// where it is, so the calls that pass buffers make their own.
func (l *loop) syscall3(trap, a1, a2, a3 uintptr) (uintptr, unix.Errno) {
	var r uintptr
	var e unix.Errno
	if l.raw {
		r, _, e = unix.RawSyscall(trap, a1, a2, a3)
	} else {
		r, _, e = unix.Syscall(trap, a1, a2, a3)
	}
	return r, e
}

// acceptPeer accepts one connection, non-blocking and close-on-exec, and
// returns its descriptor and its peer's address.
func (l *loop) acceptPeer() (int, netip.AddrPort, error) {
	size := uint32(unsafe.Sizeof(l.peer))
	var r uintptr
	var e unix.Errno
	const flags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	if l.raw {
		r, _, e = unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(l.lfd), uintptr(unsafe.Pointer(&l.peer)), uintptr(unsafe.Pointer(&size)), flags, 0, 0)
	} else {
		r, _, e = unix.Syscall6(unix.SYS_ACCEPT4, uintptr(l.lfd), uintptr(unsafe.Pointer(&l.peer)), uintptr(unsafe.Pointer(&size)), flags, 0, 0)
	}
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(r), rawAddrPort(&l.peer), nil
}

// rawAddrPort converts a peer address filled in by the kernel, writing
// IPv4-mapped IPv6 addresses as IPv4, as net.TCPAddr does.
func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), networkPort(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return sockaddrPort(&unix.SockaddrInet6{Addr: sa.Addr, Port: int(networkPort(sa.Port)), ZoneId: sa.Scope_id})
	}
	return netip.AddrPort{}
}

// networkPort reads a port stored in network byte order.
func networkPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// sendFlags is send(2) on a loop; it returns the count written.
func (l *loop) sendFlags(fd int, p []byte, flags int) (int, unix.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	var r uintptr
	var e unix.Errno
	if l.raw {
		r, _, e = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(flags), 0, 0)
	} else {
		r, _, e = unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(flags), 0, 0)
	}
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

// shutdownWrite half-closes fd.
func (l *loop) shutdownWrite(fd int) unix.Errno {
	_, e := l.syscall3(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0)
	return e
}

// readSocket reads from fd into p.
func (l *loop) readSocket(fd int, p []byte) (int, unix.Errno) {
	var r uintptr
	var e unix.Errno
	if l.raw {
		r, _, e = unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	} else {
		r, _, e = unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	}
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

// closeSocket closes fd. Without SO_LINGER, closing a socket never blocks.
func (l *loop) closeSocket(fd int) {
	l.syscall3(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}
