package ncat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

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
	if c.ListenSockets() == 2 {
		c.notef(1, "Listening on :::%s", port)
		c.notef(1, "Listening on 0.0.0.0:%s", port)
		return
	}
	c.notef(1, "Listening on %s", ncatAddr(host, port))
}

// ListenSockets is how many listening sockets ncat opens for c: two (IPv6
// and IPv4) on every interface of a family-neutral address, else one.
// sockit serves both families from one dual-stack socket, but ncat's
// messages and its chat user numbers (its descriptor numbers) follow its
// count.
func (c *Config) ListenSockets() int {
	if strings.HasPrefix(c.network(), "udp") || c.network() == "tcp" {
		if h, _, _ := net.SplitHostPort(c.Address); h == "" {
			return 2
		}
	}
	return 1
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
			case isDatagram(conn):
				// ncat names a UDP peer once, without its port.
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
