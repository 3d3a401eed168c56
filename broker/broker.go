// Package broker is sockit's message hub, ncat --broker and --chat done for
// thousands of clients: every byte a client sends reaches all other clients.
//
// Hub is a server.Handler, so it serves connections from every listener
// kind alike (TCP, TLS, Unix sockets). Fan-out never blocks a sender: each
// message is one immutable buffer shared by all recipients; each client has
// one reader goroutine and one writer goroutine draining a bounded queue
// (writev-batched). A client whose queue overflows is dropped as a slow
// consumer and the others carry on. Messages from one sender reach every
// recipient in the order they were sent.
//
// A Relay (see broker/cluster) carries local messages to other instances,
// and Deliver hands their messages to local clients, so the clients of
// several hubs form one broker.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"sockit/metrics"
	"sockit/server"
)

// Defaults for Config's zero values.
const (
	DefaultClientQueue = 1024
	DefaultReadSize    = 4096
	DefaultMaxLine     = 4096
)

// ReasonSlowConsumer is the reason a client is dropped when its queue
// overflows because it does not read fast enough.
const ReasonSlowConsumer server.ClosedReason = "slow-consumer"

// ErrSlowConsumer is returned by ServeConn for a client dropped because its
// queue overflowed.
var ErrSlowConsumer = errors.New("client queue full: dropped as a slow consumer")

// ErrIdle is returned by ServeConn for a client dropped by IdleTimeout.
var ErrIdle = errors.New("broker: client idle")

// ErrHubClosed is returned by ServeConn once the hub is closed.
var ErrHubClosed = errors.New("broker closed")

// Relay carries messages from this hub's clients to other hubs. Forward is
// called from the sending client's goroutine, in order; it must not block
// for long and must not modify msg (it may keep it).
type Relay interface {
	Forward(msg []byte)
}

// Config configures a Hub. The zero value is a plain broker.
type Config struct {
	// Chat turns on ncat's chat mode: "<userN> " before each line, join and
	// leave notices, control characters shown as \ooo.
	Chat bool
	// ClientQueue is how many messages may wait for one client; a client
	// with a full queue is dropped. Zero means DefaultClientQueue.
	ClientQueue int
	// FirstUser is the lowest chat user number. Zero means 1.
	FirstUser int
	// Instance, if not empty, names this hub in chat user names:
	// "<userN@INSTANCE>". Hubs joined by a Relay number their users each on
	// their own, so each needs a distinct Instance for names to stay apart.
	Instance string
	// ReadSize is the size of each client's read buffer. Zero means
	// DefaultReadSize.
	ReadSize int
	// IdleTimeout, if positive, drops a client when nothing has been read
	// from it or written to it for this long.
	IdleTimeout time.Duration
	// SendBuffer, if positive, sets each client socket's kernel send
	// buffer (SO_SNDBUF) in bytes. Small buffers save memory with many
	// clients and let a stalled client overflow its queue sooner; zero
	// keeps the system's autotuning.
	SendBuffer int
	// MaxLine is the longest chat line held back waiting for its newline.
	// Zero means DefaultMaxLine.
	MaxLine int
	// Relay, if set, receives every message of a local client (and chat
	// join and leave notices) to carry to other instances.
	Relay Relay
	// Metrics receives the hub's measurements; nil discards them.
	Metrics metrics.Broker
	// Logger receives the hub's warnings (slow consumers dropped); nil
	// discards them.
	Logger *slog.Logger
}

// message is one broadcast: an immutable buffer shared by every recipient.
type message struct {
	data []byte
	from *client // not delivered to its sender; nil for notices and remote messages
}

// Hub joins its clients into one broker. Create it with New.
type Hub struct {
	cfg     Config
	metrics metrics.Broker
	logger  *slog.Logger

	mu      sync.RWMutex
	clients []*client // index kept in client.slot
	users   userIDs
	closed  bool
}

// New returns a Hub configured by cfg.
func New(cfg Config) *Hub {
	if cfg.ClientQueue <= 0 {
		cfg.ClientQueue = DefaultClientQueue
	}
	if cfg.FirstUser <= 0 {
		cfg.FirstUser = 1
	}
	if cfg.ReadSize <= 0 {
		cfg.ReadSize = DefaultReadSize
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	h := &Hub{cfg: cfg, metrics: cfg.Metrics, logger: cfg.Logger}
	if h.metrics == nil {
		h.metrics = metrics.Nop{}
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	h.users.next = cfg.FirstUser
	return h
}

var _ server.Handler = (*Hub)(nil)

// Clients returns the number of clients connected to this hub.
func (h *Hub) Clients() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

// ServeConn makes conn a client of the hub until it closes, is dropped, or
// ctx ends. It returns nil when the client closed, and otherwise an error
// carrying a server.ClosedReason (ReasonSlowConsumer for a dropped client).
func (h *Hub) ServeConn(ctx context.Context, conn net.Conn) error {
	if h.cfg.SendBuffer > 0 {
		setSendBuffer(conn, h.cfg.SendBuffer)
	}
	c := newClient(conn, h.cfg.ClientQueue)
	if !h.join(c) {
		return server.WithReason(server.ReasonServerShutdown, ErrHubClosed)
	}
	h.metrics.ClientJoined()
	if d := h.cfg.IdleTimeout; d > 0 {
		c.idle = time.AfterFunc(d, func() { c.drop(server.ReasonIdleTimeout, ErrIdle) })
		c.idleTimeout = d
		defer c.idle.Stop()
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(h.metrics)
	}()
	stop := context.AfterFunc(ctx, func() { c.drop(server.ReasonServerShutdown, ctx.Err()) })
	defer stop()

	err := h.readLoop(c)
	h.leave(c)
	if err == nil {
		c.finish() // the client closed: write out what it was sent before
	} else {
		c.drop(server.ReasonOf(err), err)
	}
	<-writerDone
	c.drop(server.ReasonClientClosed, nil)
	return h.result(c)
}

// setSendBuffer sets conn's SO_SNDBUF, looking through wrappers (TLS) that
// expose the connection beneath.
func setSendBuffer(conn net.Conn, n int) {
	for range 4 {
		if sb, ok := conn.(interface{ SetWriteBuffer(int) error }); ok {
			sb.SetWriteBuffer(n)
			return
		}
		nc, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		conn = nc.NetConn()
	}
}

// result turns how a client ended into ServeConn's error, and counts it.
func (h *Hub) result(c *client) error {
	reason, err := c.dropped()
	h.metrics.ClientLeft(string(reason))
	if reason == ReasonSlowConsumer {
		h.metrics.Dropped(string(reason))
	}
	if err == nil {
		return nil
	}
	return server.WithReason(reason, err)
}

// readLoop reads c until it ends and broadcasts what it sends.
func (h *Hub) readLoop(c *client) error {
	buf := make([]byte, h.cfg.ReadSize)
	var framer *chatFramer
	if h.cfg.Chat {
		framer = newChatFramer(userName(c.user, h.cfg.Instance), h.cfg.MaxLine)
	}
	for {
		n, err := c.conn.Read(buf)
		if n > 0 {
			c.active()
			h.metrics.Received("local", n)
			var data []byte
			if framer != nil {
				data = framer.feed(buf[:n])
			} else {
				data = append([]byte(nil), buf[:n]...)
			}
			if len(data) > 0 {
				h.publish(&message{data: data, from: c})
			}
		}
		if err != nil {
			if framer != nil {
				if data := framer.flush(); data != nil {
					h.publish(&message{data: data, from: c})
				}
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if reason, derr := c.dropped(); reason != "" {
					return derr // dropped from elsewhere; the deadline was the signal
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("broker read: %w", err)
		}
	}
}

// publish sends m to the local clients and to the relay.
func (h *Hub) publish(m *message) {
	h.broadcast(m)
	if h.cfg.Relay != nil {
		h.cfg.Relay.Forward(m.data)
	}
}

// Deliver hands msg, a message from another instance, to every local
// client. msg must not be modified afterwards.
func (h *Hub) Deliver(msg []byte) {
	if len(msg) == 0 {
		return
	}
	h.metrics.Received("cluster", len(msg))
	h.broadcast(&message{data: msg})
}

// broadcast queues m for every client but its sender, dropping clients
// whose queue is full. It never blocks on a client.
func (h *Hub) broadcast(m *message) {
	var slow []*client
	h.mu.RLock()
	for _, c := range h.clients {
		if c != m.from && !c.enqueue(m) {
			slow = append(slow, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range slow {
		if c.drop(ReasonSlowConsumer, ErrSlowConsumer) {
			// A warning here, so that -q still shows it; the server logs
			// the connection's end with the same reason.
			h.logger.Warn("dropped a slow consumer", "remote", remoteString(c.conn), "reason", ReasonSlowConsumer, "queue", h.cfg.ClientQueue)
		}
	}
}

func remoteString(conn net.Conn) string {
	if a := conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// join registers c; in chat mode it numbers c and announces it.
func (h *Hub) join(c *client) bool {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	c.slot = len(h.clients)
	h.clients = append(h.clients, c)
	var peers []chatPeer
	if h.cfg.Chat {
		c.user = h.users.get()
		c.host = chatHost(c.conn.RemoteAddr())
		peers = make([]chatPeer, 0, len(h.clients)-1)
		for _, o := range h.clients {
			if o != c {
				peers = append(peers, chatPeer{o.host, o.user, userName(o.user, h.cfg.Instance)})
			}
		}
	}
	h.mu.Unlock()
	if h.cfg.Chat {
		h.publish(&message{data: joinNotice(c.host, userName(c.user, h.cfg.Instance))})
		h.broadcast(&message{data: alreadyNotice(peers)}) // lists local clients only
	}
	return true
}

// leave unregisters c; in chat mode it announces its departure.
func (h *Hub) leave(c *client) {
	h.mu.Lock()
	last := len(h.clients) - 1
	h.clients[c.slot] = h.clients[last]
	h.clients[c.slot].slot = c.slot
	h.clients[last] = nil
	h.clients = h.clients[:last]
	if h.cfg.Chat {
		h.users.put(c.user)
	}
	h.mu.Unlock()
	if h.cfg.Chat {
		h.publish(&message{data: leaveNotice(userName(c.user, h.cfg.Instance))})
	}
}

// Close drops every client and refuses new ones. It does not wait for
// their ServeConn calls to return; server.Server.Shutdown does that.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	clients := slices.Clone(h.clients)
	h.mu.Unlock()
	for _, c := range clients {
		c.drop(server.ReasonServerShutdown, ErrHubClosed)
	}
	return nil
}
