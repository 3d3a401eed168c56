package foundation

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// sockit relay carries 1 GiB (8 parallel streams of 128 MiB) byte-exact to a
// TCP target, with each direction's half-close passed on: the target sees
// the client's end of input and replies after it (8 MiB and the digest of
// what it received); the client sees the target's end of input.
func TestRelayGiBEightStreams(t *testing.T) {
	const streams, size, reply = 8, 128 << 20, 8 << 20
	ctx := testutil.Context(t, 150*time.Second)
	base := newBase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := serveTarget(t, ln, base, reply)
	rl, address := sockit(t, "relay", "127.0.0.1:0", ln.Addr().String())
	begin := time.Now()
	runStreams(ctx, t, "tcp", address, base, streams, size, reply)
	t.Logf("%d streams of %d MiB in and %d MiB back: %v", streams, size>>20, reply>>20, time.Since(begin))
	tg.check(t)
	done := regexp.MustCompile(fmt.Sprintf(`^relay done .*sent=%d received=%d$`, size, reply+32))
	testutil.Eventually(t, 10*time.Second, "8 relay done lines", func() bool { return rl.Stderr.Count(done) == streams })
	rl.Signal(sigTERM)
	if c := rl.Exit(10 * time.Second); c != 0 {
		t.Fatalf("relay exit %d; %s", c, describe(rl))
	}
}

// sockit relay from TCP to a Unix stream socket, half-closes included.
func TestRelayTCPToUnix(t *testing.T) {
	const streams, size, reply = 2, 16 << 20, 1 << 20
	ctx := testutil.Context(t, 60*time.Second)
	base := newBase(t)
	sock := filepath.Join(t.TempDir(), "target.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	tg := serveTarget(t, ln, base, reply)
	rl, address := sockit(t, "relay", "tcp://127.0.0.1:0", "unix://"+sock)
	runStreams(ctx, t, "tcp", address, base, streams, size, reply)
	tg.check(t)
	if n := len(tg.received); n != streams {
		t.Errorf("target saw %d streams, want %d", n, streams)
	}
	rl.Signal(sigINT)
	if c := rl.Exit(10 * time.Second); c != 0 {
		t.Fatalf("relay exit %d; %s", c, describe(rl))
	}
}

// SIGTERM during a 100 MiB relay: the relay stops accepting, the transfer in
// flight completes byte-exact, and the process exits 0.
func TestRelaySIGTERMDuringTransfer(t *testing.T) {
	const size, reply, pauseAt = 100 << 20, 4 << 20, 10 << 20
	ctx := testutil.Context(t, 60*time.Second)
	base := newBase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := serveTarget(t, ln, base, reply)
	rl, address := sockit(t, "relay", "127.0.0.1:0", ln.Addr().String(), "--grace", "30s")

	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	paused, resume := make(chan struct{}), make(chan struct{})
	type result struct {
		res streamResult
		err error
	}
	resc := make(chan result, 1)
	go func() {
		res, err := clientStream(c, base, 7, size, pauseAt, paused, resume)
		resc <- result{res, err}
	}()
	select {
	case <-paused:
	case <-ctx.Done():
		t.Fatal("client never sent its first 10 MiB")
	}
	rl.Signal(sigTERM)
	rl.Stderr.Wait(t, regexp.MustCompile(`^shutting down active=1`), 10*time.Second)
	// No longer accepting: a new client is refused (the listener is closed).
	waitRefused(t, address)
	close(resume)
	r := <-resc
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := checkStream(r.res, base, 7, size, reply); err != nil {
		t.Fatal(err)
	}
	if code := rl.Exit(20 * time.Second); code != 0 {
		t.Fatalf("relay exit %d; %s", code, describe(rl))
	}
	tg.check(t)
	if got := rl.Stderr.String(); regexp.MustCompile(`grace period over`).MatchString(got) {
		t.Errorf("the transfer was cut:\n%s", got)
	}
}

// UDP to UDP: one session per peer, each peer gets its own replies.
func TestRelayUDPSessions(t *testing.T) {
	echoSrv, eaddr := sockit(t, "serve", "udp://127.0.0.1:0", "--echo")
	rl, raddr := sockit(t, "relay", "udp://127.0.0.1:0", "udp://"+eaddr)
	ra, err := net.ResolveUDPAddr("udp", raddr)
	if err != nil {
		t.Fatal(err)
	}
	var peers []*net.UDPConn
	for range 3 {
		c, err := net.DialUDP("udp", nil, ra)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peers = append(peers, c)
	}
	for round := range 3 {
		for i, c := range peers {
			msg := fmt.Sprintf("peer %d round %d", i, round)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != msg {
				t.Fatalf("peer %d: got %q, %v; want %q", i, buf[:n], err, msg)
			}
		}
	}
	if n := rl.Stderr.Count(regexp.MustCompile(`^Got connection from 127\.0\.0\.1:\d+`)); n != len(peers) {
		t.Errorf("relay logged %d sessions, want %d:\n%s", n, len(peers), rl.Stderr)
	}
	for _, p := range []*proc{rl, echoSrv} {
		p.Signal(sigTERM)
		if c := p.Exit(10 * time.Second); c != 0 {
			t.Fatalf("exit %d; %s", c, describe(p))
		}
	}
}

// relay - TO joins stdin and stdout to TO, half-close included.
func TestRelayStdio(t *testing.T) {
	echoSrv, eaddr := sockit(t, "serve", "127.0.0.1:0", "--echo")
	data := strings.Repeat("through stdio\n", 10000)
	out, errOut, code := runSockit(t, 20*time.Second, strings.NewReader(data), "relay", "-", "tcp://"+eaddr)
	if code != 0 || out != data {
		t.Errorf("relay -: exit %d, %d bytes of %d, stderr %q", code, len(out), len(data), errOut)
	}
	echoSrv.Signal(sigTERM)
	echoSrv.Exit(10 * time.Second)
}
