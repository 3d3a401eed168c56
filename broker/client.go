package broker

import (
	"fmt"
	"net"
	"sync"
	"time"

	"sockit/metrics"
	"sockit/server"
)

// maxBatch bounds how many queued messages one writev carries.
const maxBatch = 256

// client is one connection of the hub: its reader is the ServeConn
// goroutine, its writer drains queue.
type client struct {
	conn net.Conn
	slot int    // index in Hub.clients, guarded by Hub.mu
	user int    // chat user number
	host string // chat name

	idle        *time.Timer // drops the client when it fires; nil without an idle timeout
	idleTimeout time.Duration

	mu     sync.Mutex
	queue  []*message // grows on demand up to limit
	spare  []*message
	limit  int
	notify chan struct{} // one pending wake-up for the writer
	drain  chan struct{} // closed by finish: write what is queued, then stop
	done   chan struct{} // closed by drop: stop now
	reason server.ClosedReason
	cause  error
	gone   bool
}

func newClient(conn net.Conn, limit int) *client {
	return &client{
		conn:   conn,
		limit:  limit,
		notify: make(chan struct{}, 1),
		drain:  make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// enqueue queues m for c without blocking; it reports false when c's queue
// is full. A client already dropped accepts and ignores messages.
func (c *client) enqueue(m *message) bool {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return true
	}
	if len(c.queue) >= c.limit {
		c.mu.Unlock()
		return false
	}
	wake := len(c.queue) == 0 // otherwise the writer has yet to take the queue and will see m
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	if wake {
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
	return true
}

// drop ends c for reason; the first call wins and reports true. It
// unblocks c's reader and writer by expiring the connection's deadlines, and
// never blocks.
func (c *client) drop(reason server.ClosedReason, cause error) bool {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return false
	}
	c.gone = true
	c.reason, c.cause = reason, cause
	c.queue = nil
	c.mu.Unlock()
	close(c.done)
	c.conn.SetDeadline(time.Now())
	return true
}

// active postpones c's idle timeout.
func (c *client) active() {
	if c.idle != nil {
		c.idle.Reset(c.idleTimeout)
	}
}

// drainTimeout bounds how long a leaving client's queue is written out.
const drainTimeout = 2 * time.Second

// finish tells c's writer to write out what is queued and stop: the client
// closed its side, and what was sent to it before must still reach it, as
// ncat, which writes synchronously, delivers it. The caller has removed c
// from the hub, so nothing more is queued.
func (c *client) finish() {
	close(c.drain)
	c.conn.SetWriteDeadline(time.Now().Add(drainTimeout))
}

// dropped returns why c ended; reason is empty while it has not.
func (c *client) dropped() (server.ClosedReason, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason, c.cause
}

// writeLoop writes c's queued messages until c is dropped, batching what
// has piled up into one writev.
func (c *client) writeLoop(m metrics.Broker) {
	var bufs net.Buffers
	for {
		last := false
		select {
		case <-c.done:
			return
		case <-c.notify:
		case <-c.drain:
			last = true
		}
		for {
			c.mu.Lock()
			batch := c.queue
			if len(batch) > maxBatch {
				batch = batch[:maxBatch]
				c.queue = c.queue[maxBatch:]
			} else {
				c.queue, c.spare = c.spare[:0], nil
			}
			gone := c.gone
			c.mu.Unlock()
			if gone {
				return
			}
			if len(batch) == 0 {
				if last {
					return
				}
				break
			}
			bufs = bufs[:0]
			n := 0
			for _, msg := range batch {
				bufs = append(bufs, msg.data)
				n += len(msg.data)
			}
			w := bufs // WriteTo consumes its receiver
			_, err := w.WriteTo(c.conn)
			if err != nil {
				c.drop(server.ReasonOf(err), fmt.Errorf("broker write: %w", err))
				return
			}
			m.Delivered(len(batch), n)
			c.active()
			if cap(batch) <= 4*maxBatch && len(batch) < maxBatch {
				clear(batch)
				c.mu.Lock()
				if c.spare == nil {
					c.spare = batch[:0]
				}
				c.mu.Unlock()
			}
		}
	}
}
