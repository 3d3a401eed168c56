package ncat

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"sockit/server"
)

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
