package proxy

import (
	"net"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// socks5UDPClient is a SOCKS5 UDP client written from RFC 1928 in Python,
// independent of sockit's code: it asks for an association, sends one
// datagram to the echo server through it, prints the answer's source and
// payload, then one datagram with FRAG 1 and one to a port the rules
// refuse, and a last one that must be the next answer.
const socks5UDPClient = `
import socket, struct, sys
proxy, port, echo, refused = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ctrl = socket.create_connection((proxy, port), timeout=5)
ctrl.sendall(b"\x05\x01\x00")
assert ctrl.recv(2) == b"\x05\x00"
ctrl.sendall(b"\x05\x03\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack(">H", 0))
rep = b""
while len(rep) < 10:
    rep += ctrl.recv(10 - len(rep))
assert rep[:4] == b"\x05\x00\x00\x01", rep
relay = (socket.inet_ntoa(rep[4:8]), struct.unpack(">H", rep[8:10])[0])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
def header(p, frag=0):
    return b"\x00\x00" + bytes([frag]) + b"\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", p)
def answer():
    d, _ = u.recvfrom(65535)
    assert d[:4] == b"\x00\x00\x00\x01", d
    return "%s:%d %s" % (socket.inet_ntoa(d[4:8]), struct.unpack(">H", d[8:10])[0], d[10:].decode())
u.sendto(header(echo) + b"ping", relay)
print(answer())
u.sendto(header(echo, frag=1) + b"fragment", relay)
u.sendto(header(refused) + b"refused", relay)
u.sendto(header(echo) + b"last", relay)
print(answer())
`

// UDP through sockit's SOCKS5 server, driven by an independent client, to
// sockit's UDP echo server.
func TestSOCKS5UDPAssociateFromPython(t *testing.T) {
	python := testutil.NeedCommand(t, "python3")
	_, echo := testutil.StartSockit(t, "serve", "udp://127.0.0.1:0", "--echo")
	_, echoPort, _ := net.SplitHostPort(echo)
	// A second echo server that the rules refuse: had anything reached it,
	// its answer would come before the last one.
	_, other := testutil.StartSockit(t, "serve", "udp://127.0.0.1:0", "--echo")
	_, refused, _ := net.SplitHostPort(other)
	_, proxy := serve(t, "127.0.0.1:0", "--socks5", "--allow-dest", "127.0.0.1:"+echoPort)
	host, port, _ := net.SplitHostPort(proxy)
	out, stderr, code := testutil.Run(t, 20*time.Second, nil, python, "-c", socks5UDPClient, host, port, echoPort, refused)
	want := "127.0.0.1:" + echoPort + " ping\n127.0.0.1:" + echoPort + " last\n"
	if code != 0 || out != want {
		t.Fatalf("python SOCKS5 UDP client: exit %d, stdout %q, want %q; stderr:\n%s", code, out, want, strings.TrimSpace(stderr))
	}
}

// sockit connect udp://... --via socks5://: each line of stdin goes through
// the proxy's UDP relay to sockit's UDP echo server and back; a chain or a
// non-SOCKS5 proxy for UDP is a usage error.
func TestConnectUDPViaSOCKS5(t *testing.T) {
	_, echo := testutil.StartSockit(t, "serve", "udp://127.0.0.1:0", "--echo")
	_, proxy := serve(t, "127.0.0.1:0", "--socks5", "--proxy-auth", "u:p")
	out, stderr, code := testutil.RunSockit(t, "one\ntwo\n", "connect", "udp://"+echo, "--via", "socks5://u:p@"+proxy, "--idle-timeout", "1s")
	if code != 0 || out != "one\ntwo\n" {
		t.Fatalf("connect udp --via socks5: exit %d, stdout %q; stderr:\n%s", code, out, stderr)
	}
	_, stderr, code = testutil.RunSockit(t, "", "connect", "udp://"+echo, "--via", "socks5://"+proxy, "--via", "socks5://"+proxy)
	if code != 2 {
		t.Fatalf("a SOCKS5 chain for UDP: exit %d, want 2", code)
	}
	if first, _, _ := strings.Cut(stderr, "\n"); !strings.Contains(first, "one socks5:// proxy only") {
		t.Fatalf("a SOCKS5 chain for UDP: stderr %q", stderr)
	}
}
