package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// past is a deadline that has passed: setting it interrupts blocked I/O.
var past = time.Unix(1, 0)

// interruptOnDone makes conn's blocked reads and writes fail when ctx ends.
func interruptOnDone(ctx context.Context, conn net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { conn.SetDeadline(past) })
}

func (r *run) worker(ctx context.Context, i int) {
	switch r.cfg.Mode {
	case Greet:
		r.greetWorker(ctx, i)
	case Echo:
		r.echoWorker(ctx, i)
	case Relay:
		r.relayWorker(ctx, i)
	}
}

// greetWorker connects, reads the greeting to the end, checks it and
// closes, once per operation.
func (r *run) greetWorker(ctx context.Context, i int) {
	want := r.cfg.Expect
	buf := make([]byte, max(len(want)+1, 4096))
	for r.take(ctx) {
		t0 := time.Now()
		var err error
		if r.raw != nil {
			err = r.rawGreet(ctx, i, buf, t0)
		} else {
			err = r.netGreet(ctx, i, buf, t0)
		}
		if err != nil {
			r.fail(ctx, err)
			continue
		}
		r.done(time.Since(t0), 0)
	}
}

func (r *run) netGreet(ctx context.Context, i int, buf []byte, t0 time.Time) error {
	c, err := r.dialer.dial(ctx, i)
	if err != nil {
		return err
	}
	r.opened()
	defer r.closed()
	defer c.Close()
	stop := interruptOnDone(ctx, c)
	defer stop()
	c.SetDeadline(t0.Add(r.cfg.Timeout))
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read greeting after %d bytes: %w", n, err)
		}
	}
	return checkGreeting(buf[:n], r.cfg.Expect, n == len(buf))
}

func (r *run) rawGreet(ctx context.Context, i int, buf []byte, t0 time.Time) error {
	deadline := t0.Add(r.cfg.Timeout)
	if r.cfg.Duration > 0 {
		deadline = minTime(deadline, r.start.Add(r.cfg.Duration))
	}
	if d, ok := ctx.Deadline(); ok {
		deadline = minTime(deadline, d)
	}
	r.opened()
	n, err := r.raw.greet(ctx, i, buf, deadline)
	r.closed()
	if err != nil {
		return err
	}
	return checkGreeting(buf[:n], r.cfg.Expect, n == len(buf))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// checkGreeting checks a greeting read to the server's close against want
// (any non-empty greeting when want is empty); full means the buffer filled
// before the close came.
func checkGreeting(got, want []byte, full bool) error {
	n := len(got)
	switch {
	case full && bytes.HasPrefix(got, want):
		return overlongf("greeting longer than %d bytes: %.40q...", max(len(want), len(got)-1), got)
	case full:
		return mismatchf("wrong greeting %.40q..., want %q", got, want)
	case len(want) == 0 && n == 0:
		return earlyEOFf("empty greeting")
	case len(want) == 0:
		return nil
	case bytes.Equal(got, want):
		return nil
	case n < len(want) && bytes.HasPrefix(want, got):
		return earlyEOFf("greeting cut short: %q of %q", got, want)
	case n > len(want) && bytes.HasPrefix(got, want):
		return overlongf("greeting longer than expected: %q", got)
	}
	return mismatchf("wrong greeting %q, want %q", got, want)
}

// echoWorker keeps a connection and makes one round trip per operation,
// reconnecting after a failure.
func (r *run) echoWorker(ctx context.Context, i int) {
	msg := make([]byte, r.cfg.Size)
	fillPattern(msg, uint64(i))
	got := make([]byte, len(msg))
	var (
		c    net.Conn
		stop func() bool
		seq  uint64
	)
	hangUp := func() {
		if c != nil {
			stop()
			c.Close()
			r.closed()
			c = nil
		}
	}
	defer hangUp()
	for r.take(ctx) {
		t0 := time.Now()
		if c == nil {
			var err error
			c, err = r.dialer.dial(ctx, i)
			if err != nil {
				r.fail(ctx, err)
				continue
			}
			r.opened()
			stop = interruptOnDone(ctx, c)
		}
		// Stamp each message so a stale or repeated echo is caught.
		seq++
		if len(msg) >= 8 {
			binary.BigEndian.PutUint64(msg, seq)
		}
		c.SetDeadline(t0.Add(r.cfg.Timeout))
		if err := echoOnce(c, msg, got); err != nil {
			r.fail(ctx, err)
			hangUp()
			continue
		}
		r.done(time.Since(t0), int64(len(msg)))
	}
}

func echoOnce(c net.Conn, msg, got []byte) error {
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("echo write: %w", err)
	}
	n, err := io.ReadFull(c, got)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return earlyEOFf("echo: connection closed after %d of %d bytes", n, len(msg))
		}
		return fmt.Errorf("echo read: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return mismatchf("echo: %d bytes differ from what was sent", len(msg))
	}
	return nil
}

// fillPattern fills b with bytes from a generator seeded with seed.
func fillPattern(b []byte, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x50c417))
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
}

// relayBlock is the length of the pattern relay streams repeat: not a power
// of two, so that a chunk's bytes depend on its offset in the stream.
const relayBlock = 1<<20 + 13

// relayChunk is the most a relay stream writes or reads at once.
const relayChunk = 256 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// relayWorker streams cfg.Size bytes to the echo server behind the relay
// while reading them back, half-closes, reads to the end and compares
// lengths and CRC-32C checksums, once per operation.
func (r *run) relayWorker(ctx context.Context, i int) {
	block := make([]byte, relayBlock)
	fillPattern(block, uint64(i)+1)
	buf := make([]byte, relayChunk)
	for r.take(ctx) {
		t0 := time.Now()
		c, err := r.dialer.dial(ctx, i)
		if err != nil {
			r.fail(ctx, err)
			continue
		}
		r.opened()
		stop := interruptOnDone(ctx, c)
		c.SetDeadline(t0.Add(r.cfg.Timeout))
		err = relayOnce(c, block, buf, r.cfg.Size, r.cfg.Timeout)
		stop()
		c.Close()
		r.closed()
		if err != nil {
			r.fail(ctx, err)
			continue
		}
		r.done(time.Since(t0), r.cfg.Size)
	}
}

// relayOnce streams size bytes and checks what comes back. Every read that
// brings bytes moves the connection's deadline timeout further, so a
// stream fails only when it makes no progress for that long.
func relayOnce(c net.Conn, block, buf []byte, size int64, timeout time.Duration) error {
	var (
		sentSum uint32
		werr    error
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		var off int64
		for off < size {
			p := block[off%relayBlock:]
			p = p[:min(int64(len(p)), int64(relayChunk), size-off)]
			sentSum = crc32.Update(sentSum, castagnoli, p)
			n, err := c.Write(p)
			off += int64(n)
			if err != nil {
				werr = fmt.Errorf("relay write after %d bytes: %w", off, err)
				return
			}
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			if err := cw.CloseWrite(); err != nil {
				werr = fmt.Errorf("relay half-close: %w", err)
			}
		}
	})
	var (
		got    int64
		gotSum uint32
		rerr   error
	)
	for {
		n, err := c.Read(buf)
		got += int64(n)
		if got > size {
			rerr = overlongf("relay: more than the %d bytes sent came back", size)
			break
		}
		gotSum = crc32.Update(gotSum, castagnoli, buf[:n])
		if n > 0 {
			c.SetDeadline(time.Now().Add(timeout))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rerr = fmt.Errorf("relay read after %d bytes: %w", got, err)
			break
		}
	}
	if rerr != nil {
		c.SetDeadline(past) // unblock the writer
	}
	wg.Wait()
	switch {
	case rerr != nil:
		return rerr
	case werr != nil:
		return werr
	case got < size:
		return earlyEOFf("relay: %d of %d bytes came back", got, size)
	case gotSum != sentSum:
		return mismatchf("relay: checksum %08x of the bytes back, %08x sent", gotSum, sentSum)
	}
	return nil
}

// runIdle opens Connections connections, holds them for Duration (or until
// ctx ends), then checks that each still echoes a byte.
func (r *run) runIdle(ctx context.Context) {
	n := r.cfg.Connections
	conns := make([]net.Conn, n)
	r.parallel(ctx, n, func(i int) {
		t0 := time.Now()
		c, err := r.dialer.dial(ctx, i)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		r.opened()
		r.record(time.Since(t0))
		conns[i] = c
	})
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
				r.closed()
			}
		}
	}()
	if r.cfg.Holding != nil {
		r.cfg.Holding(int(r.open.Load()))
	}
	hold := context.Background()
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		hold, cancel = context.WithTimeout(hold, r.cfg.Duration)
		defer cancel()
	}
	select {
	case <-ctx.Done():
		return
	case <-hold.Done():
	}
	if r.cfg.SkipVerify {
		for _, c := range conns {
			if c != nil {
				r.ops.Add(1)
			}
		}
		return
	}
	r.parallel(ctx, n, func(i int) {
		c := conns[i]
		if c == nil {
			return
		}
		c.SetDeadline(time.Now().Add(r.cfg.Timeout))
		var b [1]byte
		if err := echoOnce(c, []byte{'x'}, b[:]); err != nil {
			r.fail(ctx, err)
			return
		}
		r.ops.Add(1)
	})
}

// parallel calls f(0) ... f(n-1) from DialParallel goroutines, stopping
// early when ctx ends.
func (r *run) parallel(ctx context.Context, n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(r.cfg.DialParallel, n) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
}
