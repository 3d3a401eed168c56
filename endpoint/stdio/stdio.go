// Package stdio adapts a process's standard input and output to a net.Conn,
// so the terminal can be one end of any sockit pipe.
package stdio

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Conn reads from an input stream and writes to an output stream. CloseWrite
// closes the output (when it can be closed), which is how a half-close from
// the peer reaches a downstream program. Deadlines are accepted and ignored:
// a terminal read cannot be interrupted.
type Conn struct {
	in  io.Reader
	out io.Writer

	mu          sync.Mutex
	writeClosed bool
	closed      bool
}

var _ net.Conn = (*Conn)(nil)

// New returns a Conn over in and out.
func New(in io.Reader, out io.Writer) *Conn { return &Conn{in: in, out: out} }

// Read reads from the input.
func (c *Conn) Read(p []byte) (int, error) {
	if c.in == nil {
		return 0, io.EOF
	}
	return c.in.Read(p)
}

// Write writes to the output.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	wc := c.writeClosed
	c.mu.Unlock()
	if wc {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

// CloseWrite closes the output if it is an io.Closer, signalling end of data
// to whatever reads it.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writeClosed {
		return nil
	}
	c.writeClosed = true
	if f, ok := c.out.(interface{ Sync() error }); ok {
		f.Sync() // a terminal or pipe refuses Sync; nothing to do then
	}
	if cl, ok := c.out.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Close closes the output and, if it can be closed, the input.
func (c *Conn) Close() error {
	err := c.CloseWrite()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if cl, ok := c.in.(io.Closer); ok {
		err = errors.Join(err, cl.Close())
	}
	return err
}

// LocalAddr returns a placeholder address named "stdio".
func (c *Conn) LocalAddr() net.Addr { return Addr{} }

// RemoteAddr returns a placeholder address named "stdio".
func (c *Conn) RemoteAddr() net.Addr { return Addr{} }

// SetDeadline is accepted and ignored.
func (c *Conn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline is accepted and ignored.
func (c *Conn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline is accepted and ignored.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// Addr is the address of the standard streams.
type Addr struct{}

// Network returns "stdio".
func (Addr) Network() string { return "stdio" }

// String returns "stdio".
func (Addr) String() string { return "stdio" }
