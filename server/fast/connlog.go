package fast

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// logDelay is how long the log goroutine lets lines gather after the first
// one wakes it: one wake-up per batch, not one per connection, which costs
// a busy greeting server a context switch per connection.
const logDelay = 10 * time.Millisecond

// maxQueued bounds the log lines waiting to be written; past it lines are
// counted and the count is logged instead.
const maxQueued = 1 << 16

// connLog writes "Got connection from ADDR" lines from a goroutine of its
// own: the accept loop only appends an address to a slice.
type connLog struct {
	logger *slog.Logger
	mu     sync.Mutex
	queue  []netip.AddrPort
	lost   int
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

func newConnLog(logger *slog.Logger) *connLog {
	l := &connLog{
		logger: logger,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go l.run()
	return l
}

// add queues one line.
func (l *connLog) add(ap netip.AddrPort) {
	l.mu.Lock()
	if len(l.queue) >= maxQueued {
		l.lost++
		l.mu.Unlock()
		return
	}
	l.queue = append(l.queue, ap)
	first := len(l.queue) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

func (l *connLog) run() {
	defer close(l.done)
	var batch []netip.AddrPort
	for {
		stopping := false
		select {
		case <-l.wake:
			t := time.NewTimer(logDelay)
			select {
			case <-t.C:
			case <-l.stop:
				t.Stop()
				stopping = true
			}
		case <-l.stop:
			stopping = true
		}
		l.mu.Lock()
		batch, l.queue = l.queue, batch[:0]
		lost := l.lost
		l.lost = 0
		l.mu.Unlock()
		for _, ap := range batch {
			l.logger.Info("Got connection from " + ap.String())
		}
		if lost > 0 {
			l.logger.Warn("connection log lines dropped: the log could not keep up", "lines", lost)
		}
		if stopping {
			return
		}
	}
}

// close writes the lines still queued and stops.
func (l *connLog) close() {
	close(l.stop)
	<-l.done
}
