package foundation

import (
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// The child-process harness lives in testutil; these adapters keep the
// tests' vocabulary short.

type proc = testutil.Proc

// start starts the program with args; stdin, when not nil, feeds its
// standard input.
func start(t testing.TB, stdin io.Reader, prog string, args ...string) *proc {
	t.Helper()
	return startCmd(t, stdin, exec.Command(prog, args...))
}

func startCmd(t testing.TB, stdin io.Reader, cmd *exec.Cmd) *proc {
	t.Helper()
	cmd.Stdin = stdin
	return testutil.Start(t, cmd)
}

// sockitBin returns the sockit binary under test ($SOCKIT_TEST_BINARY runs
// these tests against another build).
func sockitBin(t testing.TB) string { return testutil.SockitBinary(t) }

// sockit starts the sockit binary with args and waits for its "listening on
// ADDR" line, returning ADDR.
func sockit(t testing.TB, args ...string) (*proc, string) {
	t.Helper()
	return testutil.StartSockit(t, args...)
}

// run runs the program to its end within timeout.
func run(t testing.TB, timeout time.Duration, stdin io.Reader, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testutil.Run(t, timeout, stdin, prog, args...)
}

// runSockit runs the sockit binary to its end.
func runSockit(t testing.TB, timeout time.Duration, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, timeout, stdin, sockitBin(t), args...)
}

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t testing.TB) int { return testutil.FreePort(t) }

// hostPort returns "127.0.0.1:PORT" and the port as a string.
func hostPort(port int) (string, string) {
	p := strconv.Itoa(port)
	return net.JoinHostPort("127.0.0.1", p), p
}

// splitPort returns the port of a HOST:PORT address.
func splitPort(t testing.TB, address string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		t.Fatalf("address %q: %v", address, err)
	}
	return port
}

// oneLine checks that an error message is one line naming want and the
// cause, with no panic trace.
func oneLine(t testing.TB, stderr string, want ...string) {
	t.Helper()
	s := strings.TrimRight(stderr, "\n")
	testutil.NoPanic(t, s)
	first, _, _ := strings.Cut(s, "\n")
	for _, w := range want {
		if !strings.Contains(first, w) {
			t.Errorf("stderr's first line %q does not contain %q (whole stderr %q)", first, w, stderr)
		}
	}
	if n := strings.Count(s, "\n"); n > 1 {
		t.Errorf("stderr has %d lines, want the error in one (and at most a usage hint):\n%s", n+1, stderr)
	}
}

func describe(p *proc) string { return p.Describe() }

func clip(s string) string { return testutil.Clip(s) }
