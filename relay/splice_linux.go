//go:build linux

package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Between two stream sockets Pipe moves bytes with splice(2) through a pipe,
// as io.Copy does, with one difference that matters for many idle
// connections: io.Copy takes a pipe for the whole copy and holds it while it
// waits for input, so every idle relayed pair costs four descriptors more
// than its two sockets. Here a direction takes a pipe from a pool only when
// its source has bytes, and gives it back as soon as the source has nothing
// more and the pipe is empty. The splice loop is written here because the
// runtime's is internal; it follows internal/poll/splice_linux.go.

// pipeSize is the pipe buffer asked for with F_SETPIPE_SZ, and the most one
// splice moves; 1 MiB is Linux's default pipe-max-size and what the runtime
// uses too.
const pipeSize = 1 << 20

type splicePipe struct {
	fds [2]int // read end, write end
}

var pipePool = sync.Pool{New: func() any {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil
	}
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize) // a smaller pipe only costs more calls
	p := &splicePipe{fds: fds}
	runtime.AddCleanup(p, func(fds [2]int) {
		unix.Close(fds[0])
		unix.Close(fds[1])
	}, fds)
	return p
}}

// streamConn is a socket splice(2) can move bytes to and from.
type streamConn interface {
	net.Conn
	SyscallConn() (syscall.RawConn, error)
}

func spliceable(c net.Conn) (streamConn, bool) {
	switch c := c.(type) {
	case *net.TCPConn:
		return c, true
	case *net.UnixConn:
		if c.LocalAddr().Network() == "unix" {
			return c, true
		}
	}
	return nil, false
}

// Copy copies src to dst until src ends, as io.Copy does, and returns the
// bytes written and nil at src's end. Between two stream sockets (TCP, Unix
// stream; src and dst may be the same socket, as for an echo) it splices
// through a pipe it takes from a pool only while bytes flow: io.Copy holds
// its pipe, two descriptors, for as long as it waits for input. Deadlines
// and closes of either connection end it with their usual errors.
func Copy(dst, src net.Conn) (int64, error) {
	d, ok1 := spliceable(dst)
	s, ok2 := spliceable(src)
	if !ok1 || !ok2 {
		return io.Copy(dst, src)
	}
	sr, err := s.SyscallConn()
	if err != nil {
		return io.Copy(dst, src)
	}
	dr, err := d.SyscallConn()
	if err != nil {
		return io.Copy(dst, src)
	}
	return spliceCopy(dr, sr)
}

// spliceCopy moves bytes from src to dst through a pooled pipe. It returns
// the bytes written to dst, and nil at src's end of input.
func spliceCopy(dst, src syscall.RawConn) (int64, error) {
	var total int64
	var p *splicePipe
	defer func() {
		if p != nil {
			pipePool.Put(p)
		}
	}()
	for {
		// Fill the pipe from src. Without a pipe, first wait until src
		// has something to say (bytes, its end or an error).
		var inPipe int
		var serr error
		err := src.Read(func(fd uintptr) bool {
			if p == nil {
				if !readable(int(fd)) {
					return false
				}
				v, _ := pipePool.Get().(*splicePipe)
				if v == nil {
					serr = errors.New("splice: no pipe")
					return true
				}
				p = v
			}
			for {
				// unix.Splice returns a bare Errno: comparing it, rather
				// than errors.Is, keeps the stack of a goroutine waiting
				// here at 2 KB (measured: errors.Is grew it to 4 KB).
				n, err := unix.Splice(int(fd), nil, p.fds[1], nil, pipeSize, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					// Nothing more for now: the pipe is empty, give it
					// back while waiting.
					pipePool.Put(p)
					p = nil
					return false
				}
				inPipe, serr = int(n), err
				return true
			}
		})
		if err != nil {
			return total, err // a deadline or a closed connection, unwrapped for errors.Is
		}
		if serr != nil {
			return total, fmt.Errorf("splice from socket: %w", serr)
		}
		if inPipe == 0 {
			return total, nil // end of input
		}
		// Pump the pipe into dst.
		var werr error
		err = dst.Write(func(fd uintptr) bool {
			for inPipe > 0 {
				n, err := unix.Splice(p.fds[0], nil, int(fd), nil, inPipe, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				if n > 0 {
					inPipe -= int(n)
					total += n
					continue
				}
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false
				}
				werr = err
				return true
			}
			return true
		})
		if err == nil && werr != nil {
			err = fmt.Errorf("splice to socket: %w", werr)
		}
		if err != nil {
			// Bytes left in the pipe are lost with the connection; the
			// pipe is not reusable.
			p = nil
			return total, err
		}
	}
}

// readable reports whether a read of the socket fd would not block: it has
// bytes, has ended, or has an error to report. It peeks with a bare
// recvfrom: unix.Recvfrom also fetches the sender's address, whose buffer
// and conversion take heap and, measured, enough stack to grow every
// waiting relay goroutine's stack from 2 to 4 KB.
func readable(fd int) bool {
	var b [1]byte
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return e != unix.EAGAIN && e != unix.EINTR
}
