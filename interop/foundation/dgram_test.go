package foundation

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// Python clients for each socket kind: argv[1] is the address, argv[2] the
// message; each prints what it receives.
const (
	pyUDP = `import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(sys.argv[2].encode(), (host, int(port)))
data, _ = s.recvfrom(65536)
sys.stdout.write(data.decode())
`
	pyUnix = `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
`
	pyUnixgram = `import os, socket, sys, tempfile
d = tempfile.mkdtemp()
me = os.path.join(d, "client.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(10)
s.bind(me)
try:
    s.sendto(sys.argv[2].encode(), sys.argv[1])
    data = s.recv(65536)
    sys.stdout.write(data.decode())
finally:
    os.unlink(me)
    os.rmdir(d)
`
)

// Greeting and echo over UDP, Unix stream and Unix datagram sockets, with
// python3 and OpenBSD nc (-u, -U, -uU) as clients.
func TestDatagramAndUnixPeers(t *testing.T) {
	py := testutil.NeedCommand(t, "python3")
	nc := testutil.NeedCommand(t, "nc")
	dir := t.TempDir()
	const msg = "ping over the socket\n"
	cases := []struct {
		name    string
		listen  string
		service []string
		want    string
		python  string // script
		ncArgs  func(address string) []string
	}{
		{"udp greet", "udp://127.0.0.1:0", nil, greeting, pyUDP,
			func(a string) []string { h, p := splitHostPort(t, a); return []string{"-u", "-w1", h, p} }},
		{"udp echo", "udp://127.0.0.1:0", []string{"--echo"}, msg, pyUDP,
			func(a string) []string { h, p := splitHostPort(t, a); return []string{"-u", "-w1", h, p} }},
		{"unix greet", "unix://" + filepath.Join(dir, "g.sock"), nil, greeting, pyUnix,
			func(a string) []string { return []string{"-N", "-U", a} }},
		{"unix echo", "unix://" + filepath.Join(dir, "e.sock"), []string{"--echo"}, msg, pyUnix,
			func(a string) []string { return []string{"-N", "-U", a} }},
		{"unixgram greet", "unixgram://" + filepath.Join(dir, "dg.sock"), nil, greeting, pyUnixgram,
			func(a string) []string { return []string{"-uU", "-w1", a} }},
		{"unixgram echo", "unixgram://" + filepath.Join(dir, "de.sock"), []string{"--echo"}, msg, pyUnixgram,
			func(a string) []string { return []string{"-uU", "-w1", a} }},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			srv, address := sockit(t, append([]string{"serve", tc.listen}, tc.service...)...)
			out, errOut, code := run(t, 20*time.Second, nil, py, "-c", tc.python, address, msg)
			if code != 0 || out != tc.want {
				t.Errorf("python3: exit %d, stdout %q (want %q), stderr %q", code, out, tc.want, errOut)
			}
			out, errOut, code = run(t, 20*time.Second, strings.NewReader(msg), nc, tc.ncArgs(address)...)
			if code != 0 || out != tc.want {
				t.Errorf("nc %v: exit %d, stdout %q (want %q), stderr %q", tc.ncArgs(address), code, out, tc.want, errOut)
			}
			srv.Signal(sigTERM)
			if c := srv.Exit(10 * time.Second); c != 0 {
				t.Fatalf("serve exit %d; %s", c, describe(srv))
			}
		})
	}
}

// sockit connect's datagram client against sockit serve over UDP and a Unix
// datagram socket: each stdin line is a datagram, each reply is printed.
func TestConnectDatagram(t *testing.T) {
	dir := t.TempDir()
	for _, listen := range []string{"udp://127.0.0.1:0", "unixgram://" + filepath.Join(dir, "c.sock")} {
		t.Run(strings.SplitN(listen, ":", 2)[0], func(t *testing.T) {
			srv, address := sockit(t, "serve", listen, "--echo")
			target := address
			if strings.HasPrefix(listen, "udp") {
				target = "udp://" + address
			} else {
				target = "unixgram://" + address
			}
			out, errOut, code := runSockit(t, 20*time.Second, strings.NewReader("one\ntwo\n"), "connect", target, "--idle-timeout", "500ms")
			if code != 0 || out != "one\ntwo\n" {
				t.Errorf("connect: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			srv.Signal(sigTERM)
			if c := srv.Exit(10 * time.Second); c != 0 {
				t.Fatalf("serve exit %d; %s", c, describe(srv))
			}
		})
	}
}
