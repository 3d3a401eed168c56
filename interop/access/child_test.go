package access

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// The child-process harness lives in testutil; these adapters keep the
// tests' vocabulary short.

type child = testutil.Proc

// startChild starts a program whose output the test watches.
func startChild(t testing.TB, name string, args ...string) *child {
	t.Helper()
	return testutil.Start(t, exec.Command(name, args...))
}

// serve starts "sockit serve ARGS" and returns it with its address.
func serve(t testing.TB, args ...string) (*child, string) {
	t.Helper()
	return testutil.StartSockit(t, append([]string{"serve"}, args...)...)
}

// run runs a program to completion (killed after 20 s) with stdin and
// returns its stdout, stderr and error.
func run(t testing.TB, stdin io.Reader, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}
