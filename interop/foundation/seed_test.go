package foundation

import (
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
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
	srv.Stderr.Wait(t, reGot, 10*time.Second)
	srv.Signal(sigINT)
	if c := srv.Exit(10 * time.Second); c != 0 {
		t.Fatalf("serve exit %d; %s", c, describe(srv))
	}
}

// sockit connect prints the greeting of the seed's own Python 3 server.
func TestSockitConnectToSeedServer(t *testing.T) {
	py := testutil.NeedCommand(t, "python3")
	port := seedPort(t)
	cmd := exec.Command(py, "-u", seedScript(t, "server.py"), strconv.Itoa(port))
	srv := startCmd(t, nil, cmd)
	srv.Stdout.Wait(t, reSeedListening, 20*time.Second)
	hp, _ := hostPort(port)
	out, errOut, code := runSockit(t, 20*time.Second, nil, "connect", hp)
	if code != 0 || out != "Thank you for connecting" {
		t.Fatalf("sockit connect: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	srv.Stdout.Wait(t, reSeedGot, 10*time.Second)
}

// With no arguments, serve listens on :12345 (IPv4 and IPv6) and connect
// dials localhost:12345: the tutorial's pair. When 12345 is taken, the same
// on a free port.
func TestZeroConfigPairDualStack(t *testing.T) {
	port := 12345
	if l, err := net.Listen("tcp", ":12345"); err == nil {
		l.Close()
	} else {
		port = freePort(t)
	}
	args := []string{"serve"}
	if port != 12345 {
		t.Logf("port 12345 is busy; serving on :%d", port)
		args = append(args, ":"+strconv.Itoa(port))
	}
	srv, address := sockit(t, args...)
	ipv6 := true
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
	} else {
		ipv6 = false
		t.Logf("no IPv6 loopback here: %v", err)
	}
	want := "[::]:" + strconv.Itoa(port)
	if !ipv6 {
		want = "0.0.0.0:" + strconv.Itoa(port)
	}
	if address != want {
		t.Errorf("listening on %s, want %s", address, want)
	}
	targets := []string{"127.0.0.1:" + strconv.Itoa(port)}
	if port == 12345 {
		targets = append(targets, "") // connect's default, localhost:12345
	}
	if ipv6 {
		targets = append(targets, "[::1]:"+strconv.Itoa(port))
	}
	for _, target := range targets {
		args := []string{"connect"}
		if target != "" {
			args = append(args, target)
		}
		out, errOut, code := runSockit(t, 10*time.Second, nil, args...)
		if code != 0 || out != greeting {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`^Got connection from 127\.0\.0\.1:\d+$`), 10*time.Second)
	srv.Signal(sigINT)
	if c := srv.Exit(10 * time.Second); c != 0 {
		t.Fatalf("serve exit %d; %s", c, describe(srv))
	}
}
