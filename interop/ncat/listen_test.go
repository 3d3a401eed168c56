package ncat

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

var reConnFrom = regexp.MustCompile(`Ncat: Connection from \S+:\d+\.`)

// countConnFrom counts the "Connection from HOST:PORT." lines so far.
func countConnFrom(p *proc) int { return len(reConnFrom.FindAllString(p.stderr.String(), -1)) }

func waitConns(t *testing.T, p *proc, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for countConnFrom(p) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d connections announced: %q", n, p.stderr.String())
		}
		p.waitStderr(regexp.MustCompile(`(?s)(Connection from \S+:\d+\..*){`+code(n)+`}`), 10*time.Second)
	}
}

// sortedLines sorts the lines of s (several clients' order varies).
func sortedLines(s string) string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

func TestListen(t *testing.T) {
	runScenarios(t, []scenario{
		{"single", []string{"-l", "-v"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-l", "127.0.0.1", port)
			c := dial(t, "tcp", "127.0.0.1:"+port)
			pr.send("from stdin\n")
			got := readUntil(c, "\n", 5*time.Second)
			c.Write([]byte("from client\n"))
			c.(*net.TCPConn).CloseWrite()
			pr.waitStdout("from client\n", 5*time.Second)
			pr.closeStdin()
			rest, end := readAll(c, 5*time.Second)
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "client got": got + rest, "client end": end, "stdout": pr.stdout.String(), "stderr": messages(pr.stderr.String())}
		}},
		{"lvkp-argv0", []string{"-l", "-v", "-k", "-p"}, func(t *testing.T, p peer) obs {
			// ncat -lvkp PORT: every interface, several clients, stdin to all.
			port := freePort(t)
			pr := start(t, p, t.TempDir(), "-lvkp", port)
			pr.waitStderr(regexp.MustCompile(`Listening on 0\.0\.0\.0:`+port), 10*time.Second)
			a := dial(t, "tcp", "127.0.0.1:"+port)
			b := dial(t, "tcp", "127.0.0.1:"+port)
			waitConns(t, pr, 2)
			pr.send("to all\n")
			ga := readUntil(a, "\n", 5*time.Second)
			gb := readUntil(b, "\n", 5*time.Second)
			a.Write([]byte("from a\n"))
			b.Write([]byte("from b\n"))
			pr.waitStdout("from a\n", 5*time.Second)
			pr.waitStdout("from b\n", 5*time.Second)
			a.Close()
			c := dial(t, "tcp", "127.0.0.1:"+port) // still listening after a client left
			waitConns(t, pr, 3)
			c.Write([]byte("from c\n"))
			pr.waitStdout("from c\n", 5*time.Second)
			pr.kill()
			return obs{"a got": ga, "b got": gb, "stdout": sortedLines(pr.stdout.String()), "stderr": sortedLines(messages(pr.stderr.String()))}
		}},
		{"keep-open-stdin-eof", []string{"-l", "-k"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-lk", "127.0.0.1", port)
			a := dial(t, "tcp", "127.0.0.1:"+port)
			waitConns(t, pr, 1)
			pr.send("last\n")
			pr.closeStdin()
			got, end := readAll(a, 5*time.Second)
			b := dial(t, "tcp", "127.0.0.1:"+port)
			waitConns(t, pr, 2)
			gotB, endB := readAll(b, 300*time.Millisecond)
			pr.kill()
			return obs{"a got": got, "a end": end, "b got": gotB, "b end": endB}
		}},
		{"max-conns", []string{"-m"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-lk", "-m", "1", "127.0.0.1", port)
			a := dial(t, "tcp", "127.0.0.1:"+port)
			waitConns(t, pr, 1)
			b := dial(t, "tcp", "127.0.0.1:"+port)
			_, endB := readAll(b, 2*time.Second)
			a.Write([]byte("a still served\n"))
			pr.waitStdout("a still served\n", 5*time.Second)
			pr.kill()
			return obs{"second end": endB, "stdout": pr.stdout.String()}
		}},
		{"udp", []string{"-u", "-l"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-ul", "127.0.0.1", port)
			c := dial(t, "udp", "127.0.0.1:"+port)
			c.Write([]byte("ping\n"))
			pr.waitStdout("ping\n", 5*time.Second)
			pr.send("pong\n")
			got := readUntil(c, "\n", 5*time.Second)
			pr.kill()
			return obs{"client got": got, "stdout": pr.stdout.String(), "stderr": messages(pr.stderr.String())}
		}},
		{"unix", []string{"-U", "-l"}, func(t *testing.T, p peer) obs {
			dir := t.TempDir()
			sock := filepath.Join(dir, "l.sock")
			pr := start(t, p, dir, "-lU", sock)
			testutilWaitFile(t, sock)
			c := dial(t, "unix", sock)
			c.Write([]byte("over unix\n"))
			c.(*net.UnixConn).CloseWrite()
			pr.closeStdin()
			got, end := readAll(c, 5*time.Second)
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "client got": got, "client end": end, "stdout": pr.stdout.String()}
		}},
		{"idle-timeout", []string{"-l", "-i"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-l", "-i", "300ms", "127.0.0.1", port)
			c := dial(t, "tcp", "127.0.0.1:"+port)
			_, end := readAll(c, 5*time.Second)
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "client end": end, "stderr": messages(pr.stderr.String())}
		}},
		{"ipv6", []string{"-6", "-l"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-6l", "::1", port)
			c := dial(t, "tcp6", "[::1]:"+port)
			c.Write([]byte("six\n"))
			c.(*net.TCPConn).CloseWrite()
			pr.closeStdin()
			readAll(c, 5*time.Second)
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "stdout": pr.stdout.String(), "stderr": messages(pr.stderr.String())}
		}},
		{"port-in-use", []string{"-l"}, func(t *testing.T, p peer) obs {
			ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {})
			pr := start(t, p, t.TempDir(), "-l", "127.0.0.1", portOf(ln.Addr()))
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "stderr": messages(pr.stderr.String())}
		}},
	})
}

// testutilWaitFile waits until path exists (a Unix listener's socket file).
func testutilWaitFile(t *testing.T, path string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, path+" to appear", func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

// UDP listeners serving several peers: ncat does so only with --exec (each
// peer its own child); sockit also with the standard streams (-ulk), which
// ncat refuses (docs/ncat.md).
func TestUDPSeveralPeers(t *testing.T) {
	runScenarios(t, []scenario{
		{"exec", []string{"-u", "-l", "-k", "-e"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-ulk", "-e", "/bin/cat", "127.0.0.1", port)
			o := obs{}
			for _, name := range []string{"a", "b"} {
				c := dial(t, "udp", "127.0.0.1:"+port)
				c.Write([]byte("from " + name + "\n"))
				o[name+" got"] = readUntil(c, "\n", 5*time.Second)
			}
			pr.kill()
			return o
		}},
		{"stdio", []string{"-u", "-l", "-k"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := start(t, p, t.TempDir(), "-v", "-ulk", "127.0.0.1", port)
			if p.name == "ncat" {
				return obs{"exit": code(pr.exit(10 * time.Second))}
			}
			pr.waitStderr(reListening, 10*time.Second)
			a := dial(t, "udp", "127.0.0.1:"+port)
			b := dial(t, "udp", "127.0.0.1:"+port)
			a.Write([]byte("from a\n"))
			b.Write([]byte("from b\n"))
			pr.waitStdout("from a\n", 5*time.Second)
			pr.waitStdout("from b\n", 5*time.Second)
			waitConns(t, pr, 2)
			pr.send("to both\n")
			ga := readUntil(a, "\n", 5*time.Second)
			gb := readUntil(b, "\n", 5*time.Second)
			pr.kill()
			if ga != "to both\n" || gb != "to both\n" {
				t.Errorf("sockit -ulk: peers got %q and %q, want the stdin line each", ga, gb)
			}
			return obs{"exit": "2"} // what ncat answers; sockit serves instead
		}},
	})
}

// listenRun is the common listen scenario: the peer listens with args and
// standard input stdin; one client sends "from client\n" then half-closes
// once it has had what it waits for.
func listenRun(t *testing.T, p peer, stdin, waitFor string, args ...string) obs {
	port := freePort(t)
	dir := t.TempDir()
	pr := listenPeer(t, p, dir, append(append([]string{"-l"}, args...), "127.0.0.1", port)...)
	c := dial(t, "tcp", "127.0.0.1:"+port)
	pr.send(stdin)
	got := ""
	if waitFor != "" {
		got = readUntil(c, waitFor, 5*time.Second)
	}
	c.Write([]byte("from client\n"))
	c.(*net.TCPConn).CloseWrite()
	pr.closeStdin()
	rest, end := readAll(c, 3*time.Second)
	x := pr.exit(10 * time.Second)
	o := obs{"exit": code(x), "client got": got + rest, "client end": end, "stdout": pr.stdout.String()}
	if b, err := os.ReadFile(filepath.Join(dir, "out")); err == nil {
		o["file"] = string(b)
	}
	return o
}

func TestListenOptions(t *testing.T) {
	runScenarios(t, []scenario{
		{"crlf", []string{"-l", "-C"}, func(t *testing.T, p peer) obs {
			return listenRun(t, p, "one\ntwo\n", "two\r\n", "-C")
		}},
		{"send-only", []string{"-l", "--send-only"}, func(t *testing.T, p peer) obs {
			o := listenRun(t, p, "down only\n", "\n", "--send-only")
			// ncat closes over the client's unread bytes, a reset; sockit
			// drains briefly and ends cleanly (docs/ncat.md).
			delete(o, "client end")
			return o
		}},
		{"recv-only", []string{"-l", "--recv-only"}, func(t *testing.T, p peer) obs {
			return listenRun(t, p, "never sent\n", "", "--recv-only")
		}},
		{"output", []string{"-l", "-o"}, func(t *testing.T, p peer) obs {
			return listenRun(t, p, "logged\n", "\n", "-o", "out")
		}},
		{"delay", []string{"-l", "-d"}, func(t *testing.T, p peer) obs {
			return listenRun(t, p, "slow\n", "\n", "-d", "50ms")
		}},
	})
}
