package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// The kinds of error a load counts (Result.ErrorKinds keys).
const (
	KindRefused   = "refused"          // connection refused
	KindReset     = "reset"            // connection reset or broken pipe
	KindTimeout   = "timeout"          // an operation passed Config.Timeout
	KindAddrInUse = "addr-unavailable" // no local port or address left
	KindFiles     = "too-many-files"   // out of file descriptors
	KindEarlyEOF  = "early-eof"        // the server closed before all bytes came
	KindMismatch  = "mismatch"         // wrong bytes: greeting, echo or checksum
	KindOverlong  = "overlong"         // more bytes than expected
	KindOther     = "other"
)

// checkError is a failed check of received bytes.
type checkError struct {
	kind string
	msg  string
}

func (e *checkError) Error() string { return e.msg }

func mismatchf(format string, args ...any) error {
	return &checkError{KindMismatch, fmt.Sprintf(format, args...)}
}

func earlyEOFf(format string, args ...any) error {
	return &checkError{KindEarlyEOF, fmt.Sprintf(format, args...)}
}

func overlongf(format string, args ...any) error {
	return &checkError{KindOverlong, fmt.Sprintf(format, args...)}
}

// Classify returns the kind of a failed operation's error.
func Classify(err error) string {
	var ce *checkError
	switch {
	case errors.As(err, &ce):
		return ce.kind
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return KindReset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return KindTimeout
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return KindAddrInUse
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return KindFiles
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEarlyEOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	return KindOther
}

// isCancel reports whether err comes from a cancelled context or a
// connection closed under the load's end.
func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded)
}
