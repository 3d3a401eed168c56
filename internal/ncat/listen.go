package ncat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/middleware"
	"sockit/server"
)

// listen listens on Address and serves connections: the first one only, or
// every one with KeepOpen.
func listen(ctx context.Context, cfg *Config) error {
	a, err := listenAddr(cfg)
	if err != nil {
		return Usagef("%v.", err)
	}
	ep := endpoint.Config{SessionTimeout: cfg.IdleTimeout, Logger: cfg.logger()}
	ln, err := ep.Listen(ctx, a)
	if err != nil {
		host := cfg.Address
		if h, p, serr := net.SplitHostPort(cfg.Address); serr == nil {
			host = ncatAddr(h, p)
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("bind to %s: %s QUITTING.", host, describe(err))}
	}
	cfg.announceListen(ln)

	var h server.Handler
	var fan *fanout
	switch {
	case cfg.Handler != nil:
		h = cfg.Handler
	case cfg.KeepOpen:
		fan = newFanout(cfg)
		h = fan
	default:
		h = server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			_, _, err := runSession(ctx, cfg, conn)
			return err
		})
	}

	// Without -k the first admitted connection is the only one: the gate
	// stops accepting and reports how its session ended.
	var taken atomic.Bool
	result := make(chan error, 1)
	gate := func(next server.Handler) server.Handler {
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			if cfg.KeepOpen {
				return next.ServeConn(ctx, conn)
			}
			if !taken.CompareAndSwap(false, true) {
				return nil
			}
			if !isDatagram(conn) {
				ln.Close()
			}
			err := next.ServeConn(ctx, conn)
			result <- err
			return err
		})
	}
	// ncat names the client before its access rules run.
	mw := []server.Middleware{cfg.announce(1)}
	if fan == nil {
		mw = append(mw, cfg.announce(2))
	}
	mw = append(mw, cfg.denyNotice(fan != nil))
	mw = append(append(mw, cfg.Middleware...), gate)
	srv := &server.Server{
		Handler:  server.Chain(h, mw...),
		Logger:   cfg.logger(),
		MaxConns: cfg.MaxConns,
	}
	if fan != nil {
		go fan.readStdin(ctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Close()
		return nil
	case err := <-result:
		srv.Close()
		return listenEnd(err)
	case err := <-errc:
		if taken.Load() {
			select {
			case err := <-result:
				srv.Close()
				return listenEnd(err)
			case <-ctx.Done():
				srv.Close()
				return nil
			}
		}
		return failure(err)
	}
}

// listenEnd is the exit of a listener whose one session ended with err:
// ncat quits with status 2 on an idle timeout in listen mode.
func listenEnd(err error) error {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, ErrIdleTimeout):
		return &ExitError{Code: 2, Err: errors.New(describe(err) + " QUITTING.")}
	}
	return failure(err)
}

// ncatAddr prints an address as ncat does: HOST:PORT, IPv6 without brackets.
func ncatAddr(host, port string) string { return host + ":" + port }

// ncatAddrOf is ncatAddr for a net.Addr.
func ncatAddrOf(a net.Addr) string {
	if h, p, err := net.SplitHostPort(a.String()); err == nil {
		return ncatAddr(h, p)
	}
	return a.String()
}

// listenAddr turns the network and address into a sockit address.
func listenAddr(cfg *Config) (addr.Addr, error) {
	return addr.Parse(cfg.network() + "://" + cfg.Address)
}

// announceListen prints ncat's "Listening on" lines: for a TCP listener on
// every interface, one for IPv6 and one for IPv4, as ncat opens two sockets
// (sockit's one dual-stack socket serves both).
func (c *Config) announceListen(ln net.Listener) {
	name := ln.Addr().String()
	if c.isUnix() {
		name = c.Address
	}
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		c.notef(1, "Listening on %s", name)
		return
	}
	if strings.HasPrefix(c.network(), "udp") || c.network() == "tcp" {
		if h, _, _ := net.SplitHostPort(c.Address); h == "" {
			c.notef(1, "Listening on :::%s", port)
			c.notef(1, "Listening on 0.0.0.0:%s", port)
			return
		}
	}
	c.notef(1, "Listening on %s", ncatAddr(host, port))
}

// announce is middleware printing ncat's "Connection from" line: stage 1 names
// the host before the access rules run, stage 2 the host and port after.
func (c *Config) announce(stage int) server.Middleware {
	return func(next server.Handler) server.Handler {
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			ra := conn.RemoteAddr()
			switch {
			case c.isUnix():
				if stage == 2 {
					c.notef(1, "Connection from a client on Unix domain socket.")
				}
			case stage == 1:
				host, _, err := net.SplitHostPort(ra.String())
				if err != nil {
					host = ra.String()
				}
				c.notef(1, "Connection from %s.", host)
			default:
				c.notef(1, "Connection from %s.", ncatAddrOf(ra))
			}
			return next.ServeConn(ctx, conn)
		})
	}
}

// denyNotice is middleware printing ncat's line for a connection the access
// rules refuse. With -k the "Connection from HOST:PORT." line of an admitted
// client comes once it is registered (see fanout.ServeConn), so for a
// refused one it is printed here.
func (c *Config) denyNotice(announce bool) server.Middleware {
	return func(next server.Handler) server.Handler {
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			err := next.ServeConn(ctx, conn)
			if errors.Is(err, middleware.ErrRefused) && server.ReasonOf(err) == server.ReasonDenied {
				if announce {
					c.notef(1, "Connection from %s.", ncatAddrOf(conn.RemoteAddr()))
				}
				c.notef(1, "New connection denied: not allowed")
			}
			return err
		})
	}
}

// fanQueue is how many chunks of standard input may wait for one client
// before it is dropped as too slow.
const fanQueue = 256

// fanout is listen -k with the standard streams: what every client sends goes
// to standard output, and standard input goes to every client. Each client
// has a bounded queue drained by its own writer, so one slow client is
// dropped instead of stalling the others; no lock is held while writing.
type fanout struct {
	cfg *Config
	rec *recorder

	outMu sync.Mutex // serialises writes to standard output

	mu      sync.Mutex
	clients map[*fanClient]struct{}
	eof     bool // standard input has ended
}

type fanClient struct {
	conn  net.Conn
	queue chan []byte // nil entry: half-close
	done  chan struct{}
	once  sync.Once
}

func (c *fanClient) drop() { c.once.Do(func() { close(c.done); c.conn.Close() }) }

func newFanout(cfg *Config) *fanout {
	return &fanout{cfg: cfg, rec: newRecorder(cfg.Output, cfg.HexDump), clients: make(map[*fanClient]struct{})}
}

// readStdin broadcasts standard input to the clients until it ends, then
// half-closes them (unless NoShutdown).
func (f *fanout) readStdin(ctx context.Context) {
	if f.cfg.RecvOnly {
		return
	}
	var tr *crlf
	if f.cfg.CRLF {
		tr = &crlf{}
	}
	buf := make([]byte, 32*1024)
	for ctx.Err() == nil {
		n, err := f.cfg.Stdin.Read(buf)
		if n > 0 {
			p := append([]byte(nil), buf[:n]...)
			if tr != nil {
				p = tr.translate(p)
			}
			f.rec.record(p)
			f.broadcast(p)
			if f.cfg.Delay > 0 && !sleepCtx(ctx, f.cfg.Delay) {
				return
			}
		}
		if err != nil {
			break
		}
	}
	f.mu.Lock()
	f.eof = true
	f.mu.Unlock()
	if !f.cfg.NoShutdown {
		f.broadcast(nil)
	}
}

func (f *fanout) broadcast(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.clients {
		select {
		case c.queue <- p:
		default:
			f.cfg.logger().Warn("client dropped: too slow to read standard input", "remote", c.conn.RemoteAddr().String(), "reason", "slow-consumer")
			c.drop()
		}
	}
}

// ServeConn serves one client of listen -k.
func (f *fanout) ServeConn(ctx context.Context, conn net.Conn) error {
	c := &fanClient{conn: conn, queue: make(chan []byte, fanQueue), done: make(chan struct{})}
	defer c.drop()
	f.mu.Lock()
	if !f.eof && !f.cfg.RecvOnly {
		f.clients[c] = struct{}{}
	}
	f.mu.Unlock()
	// Announced once registered, so that what standard input sends after
	// this line reaches the client.
	f.cfg.notef(1, "Connection from %s.", ncatAddrOf(conn.RemoteAddr()))
	defer func() {
		f.mu.Lock()
		delete(f.clients, c)
		f.mu.Unlock()
	}()
	go f.write(c)
	stop := context.AfterFunc(ctx, c.drop)
	defer stop()

	var tn *telnet
	if f.cfg.Telnet {
		tn = &telnet{}
	}
	buf := make([]byte, 64*1024)
	for {
		if f.cfg.IdleTimeout > 0 {
			conn.SetReadDeadline(time.Now().Add(f.cfg.IdleTimeout))
		}
		n, err := conn.Read(buf)
		if n > 0 {
			p := buf[:n]
			f.rec.record(p)
			if tn != nil {
				reply := tn.filter(p)
				if len(reply) > 0 {
					select {
					case c.queue <- reply:
					default:
					}
				}
			}
			if !f.cfg.SendOnly && len(p) > 0 {
				f.outMu.Lock()
				_, werr := f.cfg.Stdout.Write(p)
				f.outMu.Unlock()
				if werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			select {
			case <-c.done:
				return server.WithReason("slow-consumer", errors.New("dropped: too slow to read"))
			default:
			}
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
				return nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				return server.WithReason(server.ReasonIdleTimeout, err)
			}
			return err
		}
	}
}

// write drains c's queue into its connection.
func (f *fanout) write(c *fanClient) {
	for {
		select {
		case <-c.done:
			return
		case p := <-c.queue:
			if p == nil {
				if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				continue
			}
			if _, err := c.conn.Write(p); err != nil {
				c.drop()
				return
			}
		}
	}
}
