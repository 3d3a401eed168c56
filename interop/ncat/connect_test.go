package ncat

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// recorder is a server that reads a client's bytes until EOF (or a limit),
// then answers and closes, and remembers what it saw.
type recorder struct {
	mu    sync.Mutex
	got   string
	end   string
	peer  string
	ready chan struct{}
}

func newRecorder() *recorder { return &recorder{ready: make(chan struct{}, 16)} }

func (r *recorder) set(got, end, peer string) {
	r.mu.Lock()
	r.got, r.end, r.peer = got, end, peer
	r.mu.Unlock()
	r.ready <- struct{}{}
}

func (r *recorder) wait(t *testing.T) (string, string, string) {
	select {
	case <-r.ready:
	case <-time.After(10 * time.Second):
		t.Errorf("server saw nothing")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got, r.end, r.peer
}

// echoServer answers "got <bytes>" once the client half-closes.
func replyServer(t *testing.T, network, address, greeting string, wait time.Duration) (net.Listener, *recorder) {
	rec := newRecorder()
	ln := testutil.Serve(t, network, address, func(c net.Conn) {
		if greeting != "" {
			c.Write([]byte(greeting))
		}
		got, end := readAll(c, wait)
		c.Write([]byte("got " + got))
		rec.set(got, end, c.RemoteAddr().String())
	})
	return ln, rec
}

// clientRun is the common connect scenario: a reply server, the peer with
// args and stdin, and what each side saw.
func clientRun(t *testing.T, p peer, network, listenAddr string, stdin string, args ...string) obs {
	return clientRunGreeting(t, p, "hello\n", network, listenAddr, stdin, args...)
}

// clientRunGreeting is clientRun with the server's greeting chosen.
func clientRunGreeting(t *testing.T, p peer, greeting, network, listenAddr string, stdin string, args ...string) obs {
	ln, rec := replyServer(t, network, listenAddr, greeting, 3*time.Second)
	target := []string{"127.0.0.1", portOf(ln.Addr())}
	if network == "tcp6" {
		target[0] = "::1"
	}
	if network == "unix" {
		target = []string{ln.Addr().String()}
	}
	pr := start(t, p, t.TempDir(), append(args, target...)...)
	pr.send(stdin)
	pr.closeStdin()
	c := pr.exit(10 * time.Second)
	got, end, _ := rec.wait(t)
	return obs{"exit": code(c), "stdout": pr.stdout.String(), "stderr": messages(pr.stderr.String()), "server got": got, "server end": end}
}

func TestConnect(t *testing.T) {
	runScenarios(t, []scenario{
		{"basic", []string{"-v"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "hi there\n", "-v")
		}},
		{"ipv4", []string{"-4"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "four\n", "-4")
		}},
		{"ipv6", []string{"-6"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp6", "[::1]:0", "six\n", "-6")
		}},
		{"unix", []string{"-U"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "unix", filepath.Join(t.TempDir(), "s.sock"), "unix\n", "-U")
		}},
		{"crlf", []string{"-C"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "a\nb\r\nc\n", "-C")
		}},
		{"delay", []string{"-d"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "x\ny\n", "-d", "50ms")
		}},
		{"wait-ok", []string{"-w"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "w\n", "-w", "2")
		}},
		{"nodns-ip", []string{"-n"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "n\n", "-n")
		}},
		{"nodns-name", []string{"-n"}, func(t *testing.T, p peer) obs {
			pr := start(t, p, t.TempDir(), "-n", "localhost", "1")
			pr.closeStdin()
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "stderr": messages(pr.stderr.String())}
		}},
		{"refused", []string{"-v"}, func(t *testing.T, p peer) obs {
			pr := start(t, p, t.TempDir(), "-v", "127.0.0.1", freePort(t))
			pr.closeStdin()
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "stderr": messages(pr.stderr.String()), "stdout": pr.stdout.String()}
		}},
		{"source", []string{"-s", "-p"}, func(t *testing.T, p peer) obs {
			ln, rec := replyServer(t, "tcp", "127.0.0.1:0", "", 3*time.Second)
			sport := freePort(t)
			pr := start(t, p, t.TempDir(), "-s", "127.0.0.2", "-p", sport, "127.0.0.1", portOf(ln.Addr()))
			pr.send("src\n")
			pr.closeStdin()
			c := pr.exit(10 * time.Second)
			_, _, from := rec.wait(t)
			return obs{"exit": code(c), "from is -s:-p": bool2(from == "127.0.0.2:"+sport), "stdout": pr.stdout.String()}
		}},
		{"send-only", []string{"--send-only"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "so\n", "--send-only")
		}},
		{"recv-only", []string{"--recv-only"}, func(t *testing.T, p peer) obs {
			rec := newRecorder()
			ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
				c.Write([]byte("only down\n"))
				got, end := readAll(c, 300*time.Millisecond)
				rec.set(got, end, "")
			})
			pr := start(t, p, t.TempDir(), "--recv-only", "127.0.0.1", portOf(ln.Addr()))
			pr.send("never sent\n")
			got, _, _ := rec.wait(t)
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "stdout": pr.stdout.String(), "server got": got}
		}},
		{"no-shutdown", []string{"--no-shutdown"}, func(t *testing.T, p peer) obs {
			return clientRun(t, p, "tcp", "127.0.0.1:0", "ns\n", "--no-shutdown")
		}},
		{"idle-timeout", []string{"-i"}, func(t *testing.T, p peer) obs {
			ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) { readAll(c, 10*time.Second) })
			pr := start(t, p, t.TempDir(), "-v", "-i", "300ms", "127.0.0.1", portOf(ln.Addr()))
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "stderr": messages(pr.stderr.String())}
		}},
		{"zero-open", []string{"-z"}, func(t *testing.T, p peer) obs {
			ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) { c.Write([]byte("not read\n")) })
			pr := start(t, p, t.TempDir(), "-z", "127.0.0.1", portOf(ln.Addr()))
			pr.send("not sent\n")
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "stdout": pr.stdout.String(), "stderr": pr.stderr.String()}
		}},
		{"zero-closed", []string{"-z"}, func(t *testing.T, p peer) obs {
			pr := start(t, p, t.TempDir(), "-z", "127.0.0.1", freePort(t))
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "stdout": pr.stdout.String(), "stderr": pr.stderr.String()}
		}},
		{"zero-verbose", []string{"-z", "-v"}, func(t *testing.T, p peer) obs {
			ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {})
			pr := start(t, p, t.TempDir(), "-zv", "127.0.0.1", portOf(ln.Addr()))
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "connected line": bool2(strings.Contains(pr.stderr.String(), "Ncat: Connected to 127.0.0.1:"+portOf(ln.Addr())+"."))}
		}},
		{"telnet", []string{"-t"}, func(t *testing.T, p peer) obs {
			rec := newRecorder()
			ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
				// IAC DO ECHO, IAC WILL SGA, then text, then an escaped 0xFF.
				c.Write([]byte{255, 253, 1, 255, 251, 3, 'h', 'i', 255, 255, '\n'})
				got := readUntil(c, "\n", 3*time.Second)
				rec.set(got, "", "")
			})
			pr := start(t, p, t.TempDir(), "-t", "127.0.0.1", portOf(ln.Addr()))
			pr.waitStdout("hi", 5*time.Second)
			pr.send("typed\n")
			got, _, _ := rec.wait(t)
			pr.closeStdin()
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "stdout": pr.stdout.String(), "server got": got}
		}},
		{"output", []string{"-o"}, func(t *testing.T, p peer) obs {
			dir := t.TempDir()
			out := clientRunGreeting(t, p, "", "tcp", "127.0.0.1:0", "logged\n", "-o", filepath.Join(dir, "out"))
			b, err := os.ReadFile(filepath.Join(dir, "out"))
			out["file"] = string(b) + errString(err)
			return out
		}},
		{"append-output", []string{"--append-output", "-o"}, func(t *testing.T, p peer) obs {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "out"), []byte("old\n"), 0o644)
			out := clientRunGreeting(t, p, "", "tcp", "127.0.0.1:0", "more\n", "--append-output", "-o", filepath.Join(dir, "out"))
			b, err := os.ReadFile(filepath.Join(dir, "out"))
			out["file"] = string(b) + errString(err)
			return out
		}},
		{"hex-dump", []string{"-x"}, func(t *testing.T, p peer) obs {
			dir := t.TempDir()
			out := clientRunGreeting(t, p, "", "tcp", "127.0.0.1:0", "hexed \x00\xff bytes, more than sixteen\n", "-x", filepath.Join(dir, "hex"))
			b, err := os.ReadFile(filepath.Join(dir, "hex"))
			out["file"] = string(b) + errString(err)
			return out
		}},
		{"udp", []string{"-u"}, func(t *testing.T, p peer) obs {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			go func() {
				buf := make([]byte, 2048)
				for {
					n, a, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo(append([]byte("echo "), buf[:n]...), a)
				}
			}()
			pr := start(t, p, t.TempDir(), "-u", "127.0.0.1", portOf(pc.LocalAddr()))
			pr.send("dgram\n")
			pr.waitStdout("echo dgram\n", 5*time.Second)
			pr.closeStdin()
			c := pr.exit(10 * time.Second)
			return obs{"exit": code(c), "stdout": pr.stdout.String()}
		}},
	})
}

func bool2(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func errString(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

var _ = io.EOF
