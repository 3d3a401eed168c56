package foundation

import (
	"net"
	"regexp"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

var (
	reGot           = regexp.MustCompile(`^Got connection from 127\.0\.0\.1:\d+`)
	reSeedListening = regexp.MustCompile(`^socket is listening`)
	reSeedGot       = regexp.MustCompile(`^Got connection from \('127\.0\.0\.1', \d+\)`)
	sigINT          = syscall.SIGINT
	sigTERM         = syscall.SIGTERM
)

func splitHostPort(t testing.TB, address string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(address)
	if err != nil {
		t.Fatalf("address %q: %v", address, err)
	}
	return h, p
}

// waitRefused waits until nothing accepts on address any more: the "shutting
// down" line is logged as the listeners close, so allow a moment.
func waitRefused(t testing.TB, address string) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, "the listener on "+address+" to close", func() bool {
		c, err := net.DialTimeout("tcp", address, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}
