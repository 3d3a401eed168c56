package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// NeedCommand returns the path of an external peer program (ncat, socat,
// openssl...). When it is missing the test skips, except under CI=true,
// where .ci/run installs every peer and a missing one is a failure.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("peer %q not installed (CI=true; .ci/run should install it): %v", name, err)
	}
	t.Skipf("peer %q not installed; run bash .ci/run to install the interop peers", name)
	return ""
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// SockitBinary builds cmd/sockit once per test process (without the race
// detector, so heavy end-to-end tests run at real speed) and returns its path.
func SockitBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SOCKIT_TEST_BINARY"); p != "" {
		return p // run the tests against another build
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sockit-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "sockit")
		cmd := exec.Command("go", "build", "-o", buildPath, "sockit/cmd/sockit")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		_, file, _, _ := runtime.Caller(0)
		cmd.Dir = filepath.Dir(file)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build sockit: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}
