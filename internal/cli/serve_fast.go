package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"sockit/addr"
	"sockit/server"
	"sockit/server/fast"
	"sockit/service"
)

// fastFlags are the options of serve's plain-TCP fast path (package
// server/fast).
type fastFlags struct {
	enabled   bool
	loops     int
	reusePort bool
}

func (f *fastFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.enabled, "fast", true, "serve plain TCP greet/echo/discard from event loops (false: a goroutine per connection)")
	fs.IntVar(&f.loops, "loops", 0, "event loops of the fast path (0: one per CPU)")
	fs.BoolVar(&f.reusePort, "reuseport", false, "share the TCP port with other processes (SO_REUSEPORT); the kernel spreads connections over them")
}

// fastSafeFlags are the flags the fast path honours; any other flag set on
// the command line (TLS, PROXY protocol, access rules, exec...) needs a
// net.Conn per connection and selects the general server.
var fastSafeFlags = map[string]bool{
	"greeting": true, "echo": true, "discard": true,
	"backlog": true, "max-conns": true, "idle-timeout": true, "grace": true,
	"fast": true, "loops": true, "reuseport": true,
	"quiet": true, "debug": true,
}

// fastServer returns the fast server for h when the fast path applies: a
// plain TCP address, the greeting, echo or discard service, and no option
// that needs a net.Conn per connection. It returns nil otherwise, and an
// error when --reuseport is asked for where it cannot be honoured.
func (o *serveOptions) fastServer(h server.Handler, a addr.Addr) (*fast.Server, error) {
	if o.fast.loops < 0 || o.fast.loops > 256 {
		return nil, usagef("--loops %d: want 0 (automatic) to 256", o.fast.loops)
	}
	plainTCP := !a.IsTLS() && (a.Scheme == addr.TCP || a.Scheme == addr.TCP4 || a.Scheme == addr.TCP6)
	safe := plainTCP && o.fast.enabled
	if o.flags != nil {
		o.flags.Visit(func(f *pflag.Flag) {
			if !fastSafeFlags[f.Name] {
				safe = false
			}
		})
	}
	srv := &fast.Server{
		Loops:          o.fast.loops,
		MaxConns:       o.listen.maxConns,
		IdleTimeout:    o.listen.idleTimeout,
		LogConnections: true,
	}
	switch h := h.(type) {
	case service.Greet:
		srv.Service, srv.Message, srv.Linger = fast.Greet, h.Message, h.Linger
	case service.Echo:
		srv.Service = fast.Echo
	case service.Discard:
		srv.Service = fast.Discard
	default:
		safe = false
	}
	if !safe {
		if o.fast.reusePort {
			return nil, usagef("--reuseport: only for plain TCP greet, echo or discard, with --fast and without TLS, PROXY protocol, access rules or exec")
		}
		return nil, nil
	}
	return srv, nil
}

// listenFor opens the listener: with SO_REUSEPORT for the fast path when
// asked, else through the secure layer as every command does.
func (o *serveOptions) listenFor(ctx context.Context, env *Env, a addr.Addr, fastPath bool) (net.Listener, []server.Middleware, error) {
	if fastPath && o.fast.reusePort {
		ln, err := listenReusePort(ctx, a, o.listen.backlog)
		return ln, nil, err
	}
	return o.listen.listen(ctx, env, a)
}

// serveFast runs srv on ln until a signal. The connection log lines go
// through a lazyWriter, so the log costs one write(2) per batch.
func (o *serveOptions) serveFast(ctx context.Context, env *Env, srv *fast.Server, ln net.Listener) error {
	lw := &lazyWriter{w: env.Stderr}
	defer lw.Flush()
	var level slog.Leveler = slog.LevelInfo
	if env.level != nil {
		level = env.level
	}
	srv.Logger = slog.New(newLineHandler(lw, level))
	return serveUntilSignal(ctx, env, srv, ln, o.listen.grace)
}

// listenReusePort opens a plain TCP listener with SO_REUSEPORT, so that
// several sockit processes can share the port.
func listenReusePort(ctx context.Context, a addr.Addr, backlog int) (net.Listener, error) {
	switch a.Scheme {
	case addr.TCP, addr.TCP4, addr.TCP6:
	default:
		return nil, usagef("--reuseport: only for plain TCP addresses, not %s", a)
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(ctx, a.Network(), a.HostPort())
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", a, err)
	}
	if backlog > 0 {
		raw, err := ln.(*net.TCPListener).SyscallConn()
		if err == nil {
			var lerr error
			raw.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), backlog) })
			err = lerr
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("listen %s: backlog %d: %w", a, backlog, err)
		}
	}
	return ln, nil
}

// lazyWriter batches the connection log's lines: a write is held for a few
// milliseconds so that a busy server makes one write(2) per batch, not one
// per connection. Each Write is one whole line, so lines never interleave
// with the other loggers writing to the same stream.
type lazyWriter struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	armed bool
}

const (
	lazyDelay = 5 * time.Millisecond
	lazyLimit = 64 << 10
)

func (w *lazyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) >= lazyLimit {
		w.flushLocked()
	} else if !w.armed {
		w.armed = true
		time.AfterFunc(lazyDelay, w.Flush)
	}
	return len(p), nil
}

// Flush writes what is held.
func (w *lazyWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	w.flushLocked()
}

func (w *lazyWriter) flushLocked() {
	if len(w.buf) > 0 {
		w.w.Write(w.buf)
		w.buf = w.buf[:0]
	}
}
