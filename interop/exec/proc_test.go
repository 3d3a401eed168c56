package execinterop

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// The child-process harness lives in testutil; these adapters keep the
// tests' vocabulary short.

type proc = testutil.Proc

// start starts prog with args, its stdin a pipe the test holds.
func start(t testing.TB, prog string, args ...string) *proc {
	t.Helper()
	return testutil.StartPiped(t, exec.Command(prog, args...))
}

// sockit starts the sockit binary listening and returns its address.
func sockit(t testing.TB, args ...string) (*proc, string) {
	t.Helper()
	return testutil.StartSockit(t, args...)
}

// run runs prog to its end within timeout, feeding it stdin.
func run(t testing.TB, timeout time.Duration, stdin string, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testutil.Run(t, timeout, strings.NewReader(stdin), prog, args...)
}

// runSockit runs the sockit binary to its end.
func runSockit(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, 20*time.Second, stdin, testutil.SockitBinary(t), args...)
}

// freePort returns a free port on 127.0.0.1, for peers that cannot report
// the port they chose.
func freePort(t testing.TB) string {
	t.Helper()
	return testutil.FreePortString(t)
}

var oneLine = testutil.OneLine

func describe(p *proc) string { return p.Describe() }
