package foundation

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

const greeting = "Thank you for connecting\n"

func seedScript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "seed", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// seedPort returns the tutorial's port 12345 when a plain bind (without
// SO_REUSEADDR, as the seed's server does it) succeeds, else another free
// port: the seed programs take the port as an optional argument.
func seedPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if syscall.Bind(fd, &syscall.SockaddrInet4{Port: 12345}) == nil {
		return 12345
	}
	return freePort(t)
}

// The seed's own Python 3 client prints the greeting of sockit serve.
func TestSeedClientGreetedBySockitServe(t *testing.T) {
	py := testutil.NeedCommand(t, "python3")
	port := seedPort(t)
	srv, _ := sockit(t, "serve", ":"+strconv.Itoa(port))
	out, errOut, code := run(t, 20*time.Second, nil, py, seedScript(t, "client.py"), strconv.Itoa(port))
	if code != 0 || !strings.HasPrefix(out, "Thank you for connecting") {
		t.Fatalf("seed client: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	srv.stderr.wait(t, reGot, 10*time.Second)
	srv.signal(sigINT)
	if c := srv.exit(10 * time.Second); c != 0 {
		t.Fatalf("serve exit %d; %s", c, describe(srv))
	}
}

// sockit connect prints the greeting of the seed's own Python 3 server.
func TestSockitConnectToSeedServer(t *testing.T) {
	py := testutil.NeedCommand(t, "python3")
	port := seedPort(t)
	cmd := exec.Command(py, "-u", seedScript(t, "server.py"), strconv.Itoa(port))
	srv := startCmd(t, nil, cmd)
	srv.stdout.wait(t, reSeedListening, 20*time.Second)
	hp, _ := hostPort(port)
	out, errOut, code := runSockit(t, 20*time.Second, nil, "connect", hp)
	if code != 0 || out != "Thank you for connecting" {
		t.Fatalf("sockit connect: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	srv.stdout.wait(t, reSeedGot, 10*time.Second)
}
