package foundation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The byte-exact stream protocol the relay tests run through sockit relay:
// the client sends a generated stream and half-closes; the target reads to
// the end of input while sending its own generated stream, then sends the
// SHA-256 of everything it received and half-closes; the client reads to the
// end of input. Both sides hash as they stream, so no stream is held in
// memory, and every 1 MiB block is stamped with its stream and block number,
// so a misplaced block changes the digest.

const blockSize = 1 << 20

// generator yields size bytes: a random block (shared by all streams of one
// test) stamped with the stream id and block number.
type generator struct {
	base   []byte
	block  []byte
	id     uint64
	n      uint64 // blocks produced
	size   int64
	done   int64
	offset int // into block
}

func newBase(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, blockSize)
	rand.Read(b)
	return b
}

func newGenerator(base []byte, id uint64, size int64) *generator {
	g := &generator{base: base, block: make([]byte, blockSize), id: id, size: size, offset: blockSize}
	return g
}

func (g *generator) Read(p []byte) (int, error) {
	if g.done >= g.size {
		return 0, io.EOF
	}
	if g.offset == len(g.block) {
		copy(g.block, g.base)
		binary.BigEndian.PutUint64(g.block[0:], g.id)
		binary.BigEndian.PutUint64(g.block[8:], g.n)
		g.n++
		g.offset = 0
	}
	n := copy(p, g.block[g.offset:])
	if left := g.size - g.done; int64(n) > left {
		n = int(left)
	}
	g.offset += n
	g.done += int64(n)
	return n, nil
}

// digestOf returns the SHA-256 of what a generator yields.
func digestOf(base []byte, id uint64, size int64) []byte {
	h := sha256.New()
	io.Copy(h, newGenerator(base, id, size))
	return h.Sum(nil)
}

type closeWriter interface{ CloseWrite() error }

// streamResult is what one side of a stream saw.
type streamResult struct {
	sentSum, recvSum []byte // SHA-256 of the bytes sent and received
	recvBytes        int64
	peerSum          []byte // the digest the target reported (client side)
}

// clientStream runs the client half over c: send size bytes of stream id
// (pausing after pauseAt bytes until resume is closed, when pauseAt > 0),
// half-close, and read the target's reply to its end.
func clientStream(c net.Conn, base []byte, id uint64, size, pauseAt int64, paused chan<- struct{}, resume <-chan struct{}) (streamResult, error) {
	var res streamResult
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		h := sha256.New()
		src := io.TeeReader(newGenerator(base, id, size), h)
		if pauseAt > 0 {
			if _, err := io.CopyN(c, src, pauseAt); err != nil {
				werr = fmt.Errorf("send: %w", err)
				return
			}
			close(paused)
			<-resume
		}
		if _, err := io.Copy(c, src); err != nil {
			werr = fmt.Errorf("send: %w", err)
			return
		}
		res.sentSum = h.Sum(nil)
		if err := c.(closeWriter).CloseWrite(); err != nil {
			werr = fmt.Errorf("half-close: %w", err)
		}
	}()
	// The reply is a stream followed by a 32-byte digest: hash all but the
	// last 32 bytes.
	h := sha256.New()
	tail, n, err := hashAllButTail(c, h, sha256.Size)
	wg.Wait()
	if err != nil {
		return res, fmt.Errorf("receive: %w", err)
	}
	if werr != nil {
		return res, werr
	}
	res.recvSum, res.recvBytes, res.peerSum = h.Sum(nil), n, tail
	return res, nil
}

// hashAllButTail reads r to its end, hashing everything but the last k
// bytes, which it returns with the number of bytes hashed.
func hashAllButTail(r io.Reader, h hash.Hash, k int) ([]byte, int64, error) {
	buf := make([]byte, 256*1024+k)
	have := 0 // bytes in buf not hashed yet
	var total int64
	for {
		n, err := r.Read(buf[have:])
		have += n
		if have > k {
			h.Write(buf[:have-k])
			total += int64(have - k)
			copy(buf, buf[have-k:have])
			have = k
		}
		if errors.Is(err, io.EOF) {
			if have != k {
				return nil, total, fmt.Errorf("stream ended %d bytes short of its digest", k-have)
			}
			return bytes.Clone(buf[:k]), total, nil
		}
		if err != nil {
			return nil, total, err
		}
	}
}

// target serves the target half of the stream protocol on ln for every
// connection: the first 8 bytes the client sends name its stream id (they
// are the first block's stamp).
type target struct {
	base      []byte
	replySize int64
	mu        sync.Mutex
	received  map[uint64][]byte // stream id -> SHA-256 of what it sent
	errs      []error
	wg        sync.WaitGroup
}

func serveTarget(t testing.TB, ln net.Listener, base []byte, replySize int64) *target {
	tg := &target{base: base, replySize: replySize, received: map[uint64][]byte{}}
	tg.wg.Add(1)
	go func() {
		defer tg.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.wg.Add(1)
			go func() {
				defer tg.wg.Done()
				if err := tg.serve(c); err != nil {
					tg.mu.Lock()
					tg.errs = append(tg.errs, err)
					tg.mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); tg.wg.Wait() })
	return tg
}

func (tg *target) serve(c net.Conn) error {
	defer c.Close()
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // a probe (waitRefused) that sent nothing
		}
		return fmt.Errorf("target: read stream id: %w", err)
	}
	id := binary.BigEndian.Uint64(head[:])
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, werr = io.Copy(c, newGenerator(tg.base, id+1000, tg.replySize))
	}()
	h := sha256.New()
	h.Write(head[:])
	if _, err := io.Copy(h, c); err != nil {
		return fmt.Errorf("target: stream %d: receive: %w", id, err)
	}
	// The client's half-close arrived through the relay; reply after it.
	wg.Wait()
	if werr != nil {
		return fmt.Errorf("target: stream %d: send: %w", id, werr)
	}
	sum := h.Sum(nil)
	if _, err := c.Write(sum); err != nil {
		return fmt.Errorf("target: stream %d: send digest: %w", id, err)
	}
	tg.mu.Lock()
	tg.received[id] = sum
	tg.mu.Unlock()
	if err := c.(closeWriter).CloseWrite(); err != nil {
		return fmt.Errorf("target: stream %d: half-close: %w", id, err)
	}
	// Wait for the relay to close its side after passing the half-close on.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		return fmt.Errorf("target: stream %d: after half-close: %d bytes, %v", id, n, err)
	}
	return nil
}

func (tg *target) check(t testing.TB) {
	t.Helper()
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for _, err := range tg.errs {
		t.Error(err)
	}
}

// runStreams runs n parallel streams of size bytes (and replySize back)
// through address and checks every byte both ways.
func runStreams(ctx context.Context, t testing.TB, network, address string, base []byte, n int, size, replySize int64) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- oneStream(ctx, network, address, base, uint64(i), size, replySize)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func oneStream(ctx context.Context, network, address string, base []byte, id uint64, size, replySize int64) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return fmt.Errorf("stream %d: %w", id, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	res, err := clientStream(c, base, id, size, 0, nil, nil)
	if err != nil {
		return fmt.Errorf("stream %d: %w", id, err)
	}
	return checkStream(res, base, id, size, replySize)
}

func checkStream(res streamResult, base []byte, id uint64, size, replySize int64) error {
	if !bytes.Equal(res.peerSum, res.sentSum) {
		return fmt.Errorf("stream %d: target's SHA-256 %x of %d bytes differs from the sender's %x", id, res.peerSum, size, res.sentSum)
	}
	if want := digestOf(base, id+1000, replySize); res.recvBytes != replySize || !bytes.Equal(res.recvSum, want) {
		return fmt.Errorf("stream %d: reply of %d bytes (want %d) has SHA-256 %x, want %x", id, res.recvBytes, replySize, res.recvSum, want)
	}
	return nil
}
