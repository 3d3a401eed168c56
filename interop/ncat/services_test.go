package ncat

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// dialFrom connects to address from the local IP src (127.0.0.2, say).
func dialFrom(t *testing.T, src, address string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", address, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accessRun listens with access options, then connects from 127.0.0.1 and
// from 127.0.0.2 and reports which got through.
func accessRun(t *testing.T, p peer, args ...string) obs {
	port := freePort(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "only2"), []byte("127.0.0.2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "not1"), []byte("127.0.0.1\n"), 0o644)
	pr := listenPeer(t, p, dir, append(append([]string{"-lk"}, args...), "127.0.0.1", port)...)
	pr.send("hello\n") // to clients admitted so far: none
	o := obs{}
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		// A refused client is closed at once; an admitted one is waited on.
		c := dialFrom(t, src, "127.0.0.1:"+port)
		_, end := readAll(c, 500*time.Millisecond)
		o[src+" admitted"] = bool2(end == "timeout")
		if end == "timeout" {
			c.Write([]byte("from " + src + "\n"))
			pr.waitStdout("from "+src+"\n", 5*time.Second)
		}
	}
	pr.kill()
	o["stdout"] = pr.stdout.String()
	o["stderr"] = messages(pr.stderr.String())
	return o
}

func TestServices(t *testing.T) {
	runScenarios(t, []scenario{
		{"exec-listen", []string{"-l", "-e"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-l", "-e", "/bin/cat", "127.0.0.1", port)
			c := dial(t, "tcp", "127.0.0.1:"+port)
			c.Write([]byte("echoed by cat\n"))
			got := readUntil(c, "\n", 5*time.Second)
			c.(*net.TCPConn).CloseWrite()
			rest, end := readAll(c, 5*time.Second)
			got += rest
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "client got": got, "client end": end, "stdout": pr.stdout.String()}
		}},
		{"exec-keep-open", []string{"-l", "-k", "-e"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-lk", "-e", "/bin/cat", "127.0.0.1", port)
			a := dial(t, "tcp", "127.0.0.1:"+port)
			b := dial(t, "tcp", "127.0.0.1:"+port)
			a.Write([]byte("to a's child\n"))
			b.Write([]byte("to b's child\n"))
			ga := readUntil(a, "\n", 5*time.Second)
			gb := readUntil(b, "\n", 5*time.Second)
			pr.kill()
			return obs{"a got": ga, "b got": gb, "stdout": pr.stdout.String()}
		}},
		{"sh-exec-env", []string{"-l", "-c"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-l", "-c",
				`echo "$NCAT_REMOTE_ADDR $NCAT_REMOTE_PORT $NCAT_LOCAL_ADDR $NCAT_LOCAL_PORT $NCAT_PROTO"`, "127.0.0.1", port)
			c := dial(t, "tcp", "127.0.0.1:"+port)
			got, end := readAll(c, 5*time.Second)
			want := "127.0.0.1 " + portOf(c.LocalAddr()) + " 127.0.0.1 " + port + " TCP\n"
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "env right": bool2(got == want), "client end": end}
		}},
		{"exec-connect", []string{"-e"}, func(t *testing.T, p peer) obs {
			rec := newRecorder()
			ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
				c.Write([]byte("round trip\n"))
				got := readUntil(c, "\n", 5*time.Second)
				rec.set(got, "", "")
			})
			pr := start(t, p, t.TempDir(), "-e", "/bin/cat", "127.0.0.1", portOf(ln.Addr()))
			got, _, _ := rec.wait(t)
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "server got": got}
		}},
		{"broker", []string{"--broker"}, func(t *testing.T, p peer) obs {
			port := freePort(t)
			pr := listenPeer(t, p, t.TempDir(), "-l", "--broker", "127.0.0.1", port)
			a := dial(t, "tcp", "127.0.0.1:"+port)
			b := dial(t, "tcp", "127.0.0.1:"+port)
			c := dial(t, "tcp", "127.0.0.1:"+port)
			waitConns(t, pr, 3)
			c.Write([]byte("c1\n"))
			ga := readUntil(a, "c1\n", 5*time.Second)
			gb := readUntil(b, "c1\n", 5*time.Second)
			a.Write([]byte("a1\n"))
			gb += readUntil(b, "a1\n", 5*time.Second)
			gc := readUntil(c, "a1\n", 5*time.Second)
			rest, _ := readAll(a, 300*time.Millisecond) // a never gets its own
			pr.kill()
			return obs{"a got": ga + rest, "b got": gb, "c got": gc, "stdout": pr.stdout.String()}
		}},
		// User numbers match ncat's, which are its descriptor numbers: 4 with
		// one listening socket, 5 with two (IPv4 and IPv6).
		{"chat", []string{"--chat"}, func(t *testing.T, p peer) obs { return chatRun(t, p, "127.0.0.1") }},
		{"chat-every-interface", []string{"--chat"}, func(t *testing.T, p peer) obs { return chatRun(t, p) }},
		{"allow", []string{"--allow"}, func(t *testing.T, p peer) obs { return accessRun(t, p, "--allow", "127.0.0.2") }},
		{"deny", []string{"--deny"}, func(t *testing.T, p peer) obs { return accessRun(t, p, "--deny", "127.0.0.1") }},
		{"allowfile", []string{"--allowfile"}, func(t *testing.T, p peer) obs { return accessRun(t, p, "--allowfile", "only2") }},
		{"denyfile", []string{"--denyfile"}, func(t *testing.T, p peer) obs { return accessRun(t, p, "--denyfile", "not1") }},
	})
}

// chatRun listens in chat mode (on host, or every interface), joins two
// clients, sends a line and lets the first leave. It reads whole lines, as
// many as each step sends, so no step waits out a timeout.
func chatRun(t *testing.T, p peer, host ...string) obs {
	port := freePort(t)
	pr := listenPeer(t, p, t.TempDir(), append(append([]string{"-l", "--chat"}, host...), port)...)
	a := dial(t, "tcp", "127.0.0.1:"+port)
	ra := bufio.NewReader(a)
	ga := readLines(a, ra, 2) // its own join, and who is there
	b := dial(t, "tcp", "127.0.0.1:"+port)
	rb := bufio.NewReader(b)
	gb := readLines(b, rb, 2)
	ga += readLines(a, ra, 2) // b's join, sent to all
	a.Write([]byte("hi\x01\n"))
	gb2 := readLines(b, rb, 1)
	a.Close()
	gb3 := readLines(b, rb, 1)
	pr.kill()
	return obs{"a joins": ga, "b joins": gb, "b gets": gb2, "b sees a leave": gb3}
}

// readLines reads n lines from r (c's reader) within 5 s; what it got when
// it fails.
func readLines(c net.Conn, r *bufio.Reader, n int) string {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var got strings.Builder
	for range n {
		line, err := r.ReadString('\n')
		got.WriteString(line)
		if err != nil {
			got.WriteString("[" + err.Error() + "]")
			break
		}
	}
	return got.String()
}

func TestCommandLine(t *testing.T) {
	exitOnly := func(args ...string) func(t *testing.T, p peer) obs {
		return func(t *testing.T, p peer) obs {
			pr := start(t, p, t.TempDir(), args...)
			pr.closeStdin()
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "stdout empty": bool2(pr.stdout.String() == "")}
		}
	}
	runScenarios(t, []scenario{
		{"version", []string{"--version"}, func(t *testing.T, p peer) obs {
			pr := start(t, p, t.TempDir(), "--version")
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "version line": bool2(strings.HasPrefix(pr.stderr.String(), "Ncat: Version 7.9"))}
		}},
		{"help", []string{"-h"}, func(t *testing.T, p peer) obs {
			pr := start(t, p, t.TempDir(), "-h")
			x := pr.exit(10 * time.Second)
			out := pr.stdout.String()
			return obs{"exit": code(x), "usage": bool2(strings.Contains(out, "Usage: ncat [options] [hostname] [port]") && strings.Contains(out, "--ssl-alpn"))}
		}},
		{"unknown-option", nil, exitOnly("--bogus", "127.0.0.1", "1")},
		{"bad-time", []string{"-w"}, exitOnly("-w", "abc", "127.0.0.1", "1")},
		{"lua-exec", []string{"--lua-exec"}, exitOnly("--lua-exec", "x.lua", "127.0.0.1", "1")},
		{"no-host", nil, exitOnly()},
		{"keep-open-connect", []string{"-k"}, withMessages("-k", "127.0.0.1", "1")},
		{"max-conns-connect", []string{"-m"}, withMessages("-m", "5", "127.0.0.1", "1")},
		{"allow-connect", []string{"--allow"}, withMessages("--allow", "1.2.3.4", "127.0.0.1", "1")},
		{"proxy-type-alone", []string{"--proxy-type"}, withMessages("--proxy-type", "http", "127.0.0.1", "1")},
		{"ssl-cert-alone", []string{"--ssl-cert"}, withMessages("-l", "--ssl", "--ssl-cert", "x", "127.0.0.1", "1")},
		{"unix-no-path", []string{"-U", "-l"}, func(t *testing.T, p peer) obs {
			pr := start(t, p, t.TempDir(), "-lU")
			x := pr.exit(10 * time.Second)
			return obs{"exit": code(x), "stderr": messages(pr.stderr.String())}
		}},
		{"chat-connect", []string{"--chat"}, exitOnly("--chat", "127.0.0.1", "1")},
	})
}

// withMessages runs the peer with args and compares the exit code and the
// messages.
func withMessages(args ...string) func(t *testing.T, p peer) obs {
	return func(t *testing.T, p peer) obs {
		pr := start(t, p, t.TempDir(), args...)
		pr.closeStdin()
		x := pr.exit(10 * time.Second)
		return obs{"exit": code(x), "stderr": messages(pr.stderr.String())}
	}
}
