package ncat

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// blackhole returns a loopback address whose connects hang: a listener with
// a backlog of 0 that never accepts, its queue filled first (Linux then
// drops further SYNs).
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "blackhole")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	address := net.JoinHostPort("127.0.0.1", code(sa.(*syscall.SockaddrInet4).Port))
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", address, 300*time.Millisecond)
		if err != nil {
			return address // the queue is full: connects now hang
		}
		t.Cleanup(func() { c.Close() })
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("could not fill a listen queue: the -w timeout scenarios cannot run")
	}
	t.Skip("could not fill a listen queue on this kernel")
	return ""
}

func TestWaitTimeout(t *testing.T) {
	runScenarios(t, []scenario{
		{"wait-timeout", []string{"-w"}, func(t *testing.T, p peer) obs {
			host, port, _ := net.SplitHostPort(blackhole(t))
			began := time.Now()
			pr := start(t, p, t.TempDir(), "-v", "-w", "500ms", host, port)
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "stderr": messages(pr.stderr.String()), "bounded": bool2(time.Since(began) < 5*time.Second)}
		}},
	})
}
