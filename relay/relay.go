// Package relay joins two connections full-duplex: the heart of sockit's
// forwarder, its client and its echo service.
//
// Pipe copies each direction until its source ends, passes that end on as a
// half-close (CloseWrite) of the destination, and returns only when both
// directions are done, so no byte in flight is lost. It copies between the
// connections it is given, so when both are *net.TCPConn or *net.UnixConn the
// runtime moves the bytes with splice(2) without copying them through user
// space: callers should pass unwrapped connections where they can.
//
// The copy loop is written here rather than taken from a library because it is
// the product's core: its half-close, idle and abort rules are what every
// sockit command promises.
package relay

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrIdleTimeout is returned by Pipe when no byte moved in either direction for
// Options.IdleTimeout.
var ErrIdleTimeout = errors.New("idle timeout")

// Options tunes a Pipe. The zero value waits for both directions for ever.
type Options struct {
	// IdleTimeout ends the pipe when no byte has moved in either direction for
	// this long. Zero disables it.
	IdleTimeout time.Duration
	// EndWithB ends the pipe as soon as the direction from b to a ends,
	// without waiting for a to reach end of input: netcat's rule that the
	// remote side closing ends the session even while standard input is
	// still open. Pass the remote connection as b.
	EndWithB bool
}

// Stats counts the bytes a Pipe moved.
type Stats struct {
	// AToB is the number of bytes read from a and written to b.
	AToB int64
	// BToA is the number of bytes read from b and written to a.
	BToA int64
}

// closeWriter is the optional ability to half-close: *net.TCPConn,
// *net.UnixConn and *tls.Conn have it.
type closeWriter interface{ CloseWrite() error }

// Pipe copies a to b and b to a until both directions have ended, then closes
// both connections. A direction ends at its source's end of input, which is
// passed on as a half-close of its destination when the destination can
// half-close. An error in either direction, ctx being cancelled or the idle
// timeout closes both connections at once and is returned; a clean end of both
// directions returns nil.
func Pipe(ctx context.Context, a, b net.Conn, opt Options) (Stats, error) {
	p := &pipe{a: a, b: b, idle: opt.IdleTimeout}
	p.active.Store(time.Now().UnixNano())
	stop := context.AfterFunc(ctx, func() { p.abort(ctx.Err()) })
	defer stop()
	if p.idle > 0 {
		done := make(chan struct{})
		defer close(done)
		go p.watchdog(done)
	}

	var wg sync.WaitGroup
	var stats Stats
	wg.Add(1)
	aDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(aDone)
		n, err := p.copy(b, a, &p.aIdle, &p.bIdle, &p.aCall)
		atomic.StoreInt64(&stats.AToB, n)
		if err != nil {
			p.abort(err)
		}
	}()
	n, err := p.copy(a, b, &p.bIdle, &p.aIdle, &p.bCall)
	atomic.StoreInt64(&stats.BToA, n)
	if err != nil {
		p.abort(err)
	}
	if opt.EndWithB {
		p.abort(nil)
		select {
		case <-aDone:
		default:
			// a's reader may be blocked in a read that closing cannot
			// interrupt (a terminal); do not wait for it.
			p.closeBoth()
			return Stats{AToB: atomic.LoadInt64(&stats.AToB), BToA: n}, p.err()
		}
	}
	wg.Wait()
	p.closeBoth()
	return Stats{AToB: atomic.LoadInt64(&stats.AToB), BToA: atomic.LoadInt64(&stats.BToA)}, p.err()
}

type pipe struct {
	a, b   net.Conn
	idle   time.Duration
	active atomic.Int64 // unix nanoseconds of the last observed progress
	aIdle  atomic.Bool  // the a-to-b direction saw a whole idle window
	bIdle  atomic.Bool
	aCall  atomic.Int64 // unix nanoseconds the a-to-b io.Copy began; 0 outside it
	bCall  atomic.Int64

	mu       sync.Mutex
	firstErr error
	aborted  bool
	closed   bool
}

// copy moves src to dst until src ends. It returns the bytes moved and an
// error other than end of input.
func (p *pipe) copy(dst, src net.Conn, selfIdle, otherIdle *atomic.Bool, call *atomic.Int64) (int64, error) {
	var total int64
	for {
		if p.idle > 0 {
			if err := src.SetReadDeadline(time.Now().Add(p.idle)); err != nil && !p.isAborted() {
				return total, err
			}
		}
		// Copy splices between sockets without holding a pipe while
		// idle (splice_linux.go); a deadline interrupts it with the count
		// so far.
		call.Store(time.Now().UnixNano())
		n, err := Copy(dst, src)
		call.Store(0)
		total += n
		if n > 0 {
			selfIdle.Store(false)
			p.active.Store(time.Now().UnixNano())
		}
		if err == nil {
			selfIdle.Store(true) // a finished direction is idle for good
			if cw, ok := dst.(closeWriter); ok {
				// ENOTCONN: the peer is gone already (it reset the
				// connection); the other direction reports how it ended.
				if err := cw.CloseWrite(); err != nil && !p.isAborted() && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ENOTCONN) {
					return total, err
				}
			}
			return total, nil
		}
		if p.idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) && !p.isAborted() {
			if n > 0 {
				continue
			}
			selfIdle.Store(true)
			stale := time.Since(time.Unix(0, p.active.Load())) >= p.idle
			if stale && otherIdle.Load() {
				return total, ErrIdleTimeout
			}
			continue
		}
		if p.isAborted() {
			return total, nil
		}
		return total, err
	}
}

// watchdog ends a pipe whose destination stopped taking bytes. The read
// deadlines see idleness only where a copy waits to read: a copy blocked
// writing to a peer that no longer reads never returns, so its direction
// never looks idle. A copy call still running two idle periods after it
// began is past its read deadline, so it is blocked in a write; when the
// other direction is idle (or blocked the same way) too, no byte has moved
// for an idle period and the pipe ends with ErrIdleTimeout.
func (p *pipe) watchdog(done <-chan struct{}) {
	t := time.NewTicker(max(p.idle/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if p.isAborted() {
			return
		}
		now := time.Now().UnixNano()
		blocked := func(call *atomic.Int64) bool {
			t := call.Load()
			return t != 0 && now-t >= int64(2*p.idle)
		}
		aStuck, bStuck := blocked(&p.aCall), blocked(&p.bCall)
		if (aStuck || bStuck) && (aStuck || p.aIdle.Load()) && (bStuck || p.bIdle.Load()) {
			p.abort(ErrIdleTimeout)
			return
		}
	}
}

func (p *pipe) isAborted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.aborted
}

// abort records err (if it is the first) and closes both connections so that
// both directions stop.
func (p *pipe) abort(err error) {
	p.mu.Lock()
	if err != nil && p.firstErr == nil && !p.aborted {
		p.firstErr = err
	}
	p.aborted = true
	p.mu.Unlock()
	p.closeBoth()
}

func (p *pipe) closeBoth() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.a.Close()
	p.b.Close()
}

func (p *pipe) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr
}
