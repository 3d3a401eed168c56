// Package cluster joins broker hubs through a NATS subject, so that the
// clients of every sockit instance form one broker.
//
// Each Link has a unique ID carried in a header of every message it
// publishes; a link never delivers its own messages (the server is also
// asked not to echo them), so nothing comes back to its sender and nothing
// arrives twice. NATS keeps the order of one connection's messages, so
// per-sender order holds across instances. When NATS is lost the local hub
// keeps working; the link reconnects with backoff and logs each step.
package cluster

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"sockit/broker"
	"sockit/metrics"
)

// DefaultSubject is the NATS subject hubs share when Config.Subject is empty.
const DefaultSubject = "sockit.broker"

// originHeader names the header carrying the publishing link's ID.
const originHeader = "Sockit-Origin"

// Config configures a Link.
type Config struct {
	// URLs are the NATS servers to use (see ParseURLs); required.
	URLs []string
	// Subject is the NATS subject the hubs share; empty means DefaultSubject.
	Subject string
	// ConnectTimeout bounds the first connection; zero means 5 s.
	ConnectTimeout time.Duration
	// MaxReconnectDelay caps the backoff between reconnect attempts, which
	// starts at 100 ms and doubles; zero means 5 s.
	MaxReconnectDelay time.Duration
	// Metrics receives drop counts; nil discards them.
	Metrics metrics.Broker
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Link connects one hub to the NATS subject. It implements broker.Relay.
type Link struct {
	id      string
	subject string
	nc      *nats.Conn
	header  nats.Header // read-only after Dial, shared by every publish
	metrics metrics.Broker
	logger  *slog.Logger
	failing atomic.Bool // publishing fails; logged once per outage
}

var _ broker.Relay = (*Link)(nil)

// Dial connects to NATS. It fails at once, with the servers named, when none
// is reachable; once connected, the link reconnects on its own forever.
func Dial(ctx context.Context, cfg Config) (*Link, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("cluster: no NATS URL")
	}
	l := &Link{
		id:      newID(),
		subject: cfg.Subject,
		metrics: cfg.Metrics,
		logger:  cfg.Logger,
	}
	if l.subject == "" {
		l.subject = DefaultSubject
	}
	if l.metrics == nil {
		l.metrics = metrics.Nop{}
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	l.header = nats.Header{originHeader: []string{l.id}}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	maxDelay := cfg.MaxReconnectDelay
	if maxDelay <= 0 {
		maxDelay = 5 * time.Second
	}
	servers := strings.Join(cfg.URLs, ",")
	nc, err := nats.Connect(servers,
		nats.Name("sockit-broker-"+l.id),
		nats.Timeout(timeout),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(backoff(maxDelay)),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			l.logger.Warn("cluster: lost NATS; local clients keep talking; reconnecting", "err", errString(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.failing.Store(false)
			l.logger.Info("cluster: reconnected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				l.metrics.Dropped("cluster-slow-consumer")
			}
			l.logger.Warn("cluster: NATS error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS at %s: %w", servers, err)
	}
	l.nc = nc
	l.logger.Info("cluster: connected to NATS", "url", nc.ConnectedUrlRedacted(), "subject", l.subject, "id", l.id)
	return l, nil
}

// ID returns the link's unique ID.
func (l *Link) ID() string { return l.id }

// Connected reports whether the link is connected to NATS now.
func (l *Link) Connected() bool { return l.nc.IsConnected() }

// Forward publishes msg for the other instances. While NATS is away,
// messages are buffered (8 MiB) and sent on reconnection; beyond that they
// are dropped and counted.
func (l *Link) Forward(msg []byte) {
	err := l.nc.PublishMsg(&nats.Msg{Subject: l.subject, Data: msg, Header: l.header})
	if err != nil {
		l.metrics.Dropped("cluster-unavailable")
		if !l.failing.Swap(true) {
			l.logger.Warn("cluster: cannot forward messages to NATS; dropping them until it is back", "err", err)
		}
	}
}

// Attach delivers the other instances' messages to hub until Close.
func (l *Link) Attach(hub *broker.Hub) error {
	_, err := l.nc.Subscribe(l.subject, func(m *nats.Msg) {
		if m.Header.Get(originHeader) == l.id {
			return // our own; NoEcho should already have kept it
		}
		hub.Deliver(m.Data)
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", l.subject, err)
	}
	if err := l.nc.Flush(); err != nil && !errors.Is(err, nats.ErrConnectionReconnecting) {
		return fmt.Errorf("cluster: subscribe %s: %w", l.subject, err)
	}
	return nil
}

// Close sends what is buffered (waiting at most a second, and only when
// connected) and closes the connection.
func (l *Link) Close() error {
	if l.nc.IsConnected() {
		l.nc.FlushTimeout(time.Second)
	}
	l.nc.Close()
	return nil
}

// backoff returns NATS's reconnect delay: 100 ms doubling up to maxDelay,
// with up to 25% jitter so instances do not reconnect in lockstep.
func backoff(maxDelay time.Duration) func(attempts int) time.Duration {
	return func(attempts int) time.Duration {
		d := 100 * time.Millisecond
		for i := 1; i < attempts && d < maxDelay; i++ {
			d *= 2
		}
		d = min(d, maxDelay)
		return d + time.Duration(rand.Int64N(int64(d/4)+1))
	}
}

func newID() string {
	var b [8]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func errString(err error) string {
	if err == nil {
		return "connection closed"
	}
	return err.Error()
}
