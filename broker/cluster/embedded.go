package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Server is a NATS server embedded in the process (nats-server as a
// library), for a first instance or a single box: nothing else to install.
type Server struct {
	ns *natsserver.Server
}

// Listen starts an embedded NATS server accepting clients on address
// (HOST:PORT; port 0 picks a free one) and waits until it is ready.
func Listen(address string, logger *slog.Logger) (*Server, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("cluster listen %q: %w", address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("cluster listen %q: bad port", address)
	}
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	opts := &natsserver.Options{
		Host:   host,
		Port:   port,
		NoSigs: true,
		// A broker's messages are small and many; the defaults (1 MiB
		// payloads, 64 MiB pending) suit it.
		ServerName: "sockit",
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster listen %s: %w", address, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lg := &natsLogger{logger: logger.With("component", "nats-server"), fatal: make(chan string, 1)}
	ns.SetLoggerV2(lg, false, false, false)
	ns.Start()
	ready := make(chan bool, 1)
	go func() { ready <- ns.ReadyForConnections(10 * time.Second) }()
	select {
	case msg := <-lg.fatal:
		ns.Shutdown()
		return nil, fmt.Errorf("cluster listen %s: %s", address, msg)
	case ok := <-ready:
		if !ok {
			ns.Shutdown()
			return nil, fmt.Errorf("cluster listen %s: %w", address, errors.New("NATS server not ready after 10s"))
		}
	}
	return &Server{ns: ns}, nil
}

// URL returns the URL clients connect to (nats://HOST:PORT).
func (s *Server) URL() string { return s.ns.ClientURL() }

// Addr returns the address the server accepts clients on.
func (s *Server) Addr() net.Addr { return s.ns.Addr() }

// Close shuts the server down and waits until it has.
func (s *Server) Close() error {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	return nil
}

// natsLogger passes the embedded server's log to slog; its fatal errors
// (a port in use) fail Listen instead of exiting the process.
type natsLogger struct {
	logger *slog.Logger
	fatal  chan string
}

func (l *natsLogger) Noticef(format string, v ...any) {
	l.logger.Debug(fmt.Sprintf(format, v...))
}

func (l *natsLogger) Warnf(format string, v ...any) {
	l.logger.Warn(fmt.Sprintf(format, v...))
}

func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	select {
	case l.fatal <- msg:
	default:
		l.logger.Error(msg)
	}
}

func (l *natsLogger) Errorf(format string, v ...any) {
	l.logger.Error(fmt.Sprintf(format, v...))
}

func (l *natsLogger) Debugf(format string, v ...any) {}

func (l *natsLogger) Tracef(format string, v ...any) {}
