package server

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// ClosedReason names why a connection ended; it flows into logs and metrics.
type ClosedReason string

// The reasons a connection ends.
const (
	ReasonClientClosed   ClosedReason = "client-closed"
	ReasonServerShutdown ClosedReason = "server-shutdown"
	ReasonIdleTimeout    ClosedReason = "idle-timeout"
	ReasonMaxConns       ClosedReason = "max-conns"
	ReasonDenied         ClosedReason = "denied"
	ReasonDialFailed     ClosedReason = "dial-failed"
	ReasonReset          ClosedReason = "reset"
	ReasonPanic          ClosedReason = "panic"
	ReasonProtocol       ClosedReason = "protocol-error"
	ReasonError          ClosedReason = "error"
)

// ReasonedError wraps an error with the reason a connection ended, so handlers
// can name it and the server can log it.
type ReasonedError struct {
	Reason ClosedReason
	Err    error
}

// Error returns the wrapped error's text.
func (e *ReasonedError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *ReasonedError) Unwrap() error { return e.Err }

// WithReason attaches reason to err; a nil err stays nil.
func WithReason(reason ClosedReason, err error) error {
	if err == nil {
		return nil
	}
	return &ReasonedError{Reason: reason, Err: err}
}

// ReasonOf classifies err as a ClosedReason.
func ReasonOf(err error) ClosedReason {
	var re *ReasonedError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return ReasonClientClosed
	case errors.As(err, &re):
		return re.Reason
	case errors.Is(err, context.Canceled), errors.Is(err, net.ErrClosed):
		return ReasonServerShutdown
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonIdleTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonReset
	}
	return ReasonError
}
