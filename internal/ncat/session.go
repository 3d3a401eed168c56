package ncat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrIdleTimeout ends a session in which no byte moved for Config.IdleTimeout.
var ErrIdleTimeout = errors.New("Idle timeout expired")

// datagramDrain is how long a datagram session keeps reading replies once
// standard input has ended (ncat stops at once and may lose them).
const datagramDrain = 250 * time.Millisecond

// session joins the standard streams to one connection with ncat's rules.
//
// It is not relay.Pipe because ncat's session is not a symmetric relay: the
// bytes are transformed on the way (-C, -t, -d), either direction may be
// switched off (--send-only, --recv-only), the end of standard input
// half-closes only unless --no-shutdown, the remote side closing ends the
// session at once while the terminal may still be open, and the idle timer
// (-i) must count a terminal that can take no read deadline.
type session struct {
	cfg  *Config
	conn net.Conn
	rec  *recorder

	wmu      sync.Mutex // serialises writes to conn (data and Telnet replies)
	sent     atomic.Int64
	received atomic.Int64
	active   atomic.Int64 // unix nanoseconds of the last byte moved
}

type sessionEnd struct {
	err error
}

// runSession runs a session on conn until it ends, closes conn and returns
// the bytes sent and received.
func runSession(ctx context.Context, cfg *Config, conn net.Conn) (sent, received int64, err error) {
	s := &session{cfg: cfg, conn: conn, rec: newRecorder(cfg.Output, cfg.HexDump)}
	defer s.rec.close()
	s.touch()
	end := make(chan sessionEnd, 3)
	stop := context.AfterFunc(ctx, func() { end <- sessionEnd{ctx.Err()} })
	defer stop()
	// sctx ends with the session, releasing a sender waiting after stdin's end.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	datagram := isDatagram(conn)

	if !cfg.RecvOnly {
		go func() { end <- s.sendStdin(sctx, datagram) }()
	}
	go func() { end <- s.receive() }()

	var idle <-chan time.Time
	var ticker *time.Ticker
	if cfg.IdleTimeout > 0 {
		ticker = time.NewTicker(min(cfg.IdleTimeout/4+time.Millisecond, time.Second))
		defer ticker.Stop()
		idle = ticker.C
	}
	for {
		select {
		case e := <-end:
			conn.Close()
			if errors.Is(e.err, context.Canceled) {
				e.err = nil
			}
			return s.sent.Load(), s.received.Load(), e.err
		case <-idle:
			if time.Since(time.Unix(0, s.active.Load())) >= cfg.IdleTimeout {
				conn.Close()
				return s.sent.Load(), s.received.Load(), fmt.Errorf("%w (%d ms)", ErrIdleTimeout, cfg.IdleTimeout.Milliseconds())
			}
		}
	}
}

func (s *session) touch() { s.active.Store(time.Now().UnixNano()) }

// write sends p on the connection.
func (s *session) write(p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.conn.Write(p)
	return err
}

// sendStdin copies standard input to the connection. Its end is the
// session's end only with --send-only or on a datagram socket, which cannot
// half-close; otherwise it half-closes (unless --no-shutdown) and waits.
func (s *session) sendStdin(ctx context.Context, datagram bool) sessionEnd {
	var tr *crlf
	if s.cfg.CRLF {
		tr = &crlf{}
	}
	buf := make([]byte, 32*1024)
	if datagram {
		buf = make([]byte, 64*1024-29) // the largest UDP payload over IPv4
	}
	for {
		n, err := s.cfg.Stdin.Read(buf)
		if n > 0 {
			p := buf[:n]
			if tr != nil {
				p = tr.translate(p)
			}
			s.touch()
			// Recorded before it is sent, as the fan-out does: once the
			// peer has it, its answer (and the session's end, which
			// closes the -o file) can come before this goroutine runs
			// again.
			s.rec.record(p)
			if werr := s.write(p); werr != nil {
				return sessionEnd{fmt.Errorf("send: %w", werr)}
			}
			s.sent.Add(int64(len(p)))
			if s.cfg.Delay > 0 && !sleepCtx(ctx, s.cfg.Delay) {
				return sessionEnd{ctx.Err()}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return sessionEnd{fmt.Errorf("read standard input: %w", err)}
			}
			break
		}
	}
	switch {
	case s.cfg.SendOnly && !datagram:
		// Quit, but half-close first and drain briefly, so that bytes the
		// peer sent and nobody read do not turn the close into a reset.
		if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		s.conn.SetReadDeadline(time.Now().Add(datagramDrain))
	case s.cfg.SendOnly:
		return sessionEnd{}
	case datagram:
		s.conn.SetReadDeadline(time.Now().Add(datagramDrain))
	case !s.cfg.NoShutdown:
		if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	<-ctx.Done() // the receiving side ends the session
	return sessionEnd{ctx.Err()}
}

// receive copies the connection to standard output until the peer closes.
func (s *session) receive() sessionEnd {
	var tn *telnet
	if s.cfg.Telnet {
		tn = &telnet{}
	}
	buf := make([]byte, 64*1024)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			s.touch()
			p := buf[:n]
			s.received.Add(int64(n))
			s.rec.record(p)
			if tn != nil {
				reply := tn.filter(p)
				if len(reply) > 0 {
					if werr := s.write(reply); werr != nil {
						return sessionEnd{fmt.Errorf("telnet reply: %w", werr)}
					}
				}
			}
			if !s.cfg.SendOnly && len(p) > 0 {
				if _, werr := s.cfg.Stdout.Write(p); werr != nil {
					return sessionEnd{fmt.Errorf("write standard output: %w", werr)}
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
				return sessionEnd{}
			}
			return sessionEnd{err}
		}
	}
}

// isDatagram reports whether conn carries datagrams.
func isDatagram(conn net.Conn) bool {
	if d, ok := conn.(interface{ Datagram() bool }); ok {
		return d.Datagram()
	}
	switch conn.LocalAddr().Network() {
	case "udp", "udp4", "udp6", "unixgram":
		return true
	}
	return false
}
