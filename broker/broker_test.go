package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/server"
)

// startHub serves a hub configured by cfg on a fresh loopback listener of
// network ("tcp" or "unix") and returns it and the address to dial.
func startHub(t *testing.T, network string, cfg Config) (*Hub, string) {
	t.Helper()
	address := "127.0.0.1:0"
	if network == "unix" {
		address = filepath.Join(t.TempDir(), "hub.sock")
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	h := New(cfg)
	srv := &server.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		h.Close()
		if err := <-done; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return h, ln.Addr().String()
}

// dialN connects n clients and waits until the hub counts them all.
func dialN(t *testing.T, h *Hub, network, address string, n int) []net.Conn {
	t.Helper()
	base := h.Clients()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial(network, address)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	testutil.Eventually(t, 5*time.Second, fmt.Sprintf("%d clients joined", n), func() bool { return h.Clients() == base+n })
	return conns
}

func readExactly(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, buf)
	}
	return string(buf)
}

func TestBrokerFanOutNotEchoed(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			h, address := startHub(t, network, Config{})
			c := dialN(t, h, network, address, 3)
			io.WriteString(c[0], "hello\n")
			for _, r := range c[1:] {
				if got := readExactly(t, r, 6); got != "hello\n" {
					t.Errorf("got %q, want hello", got)
				}
			}
			// The sender's first byte must be the next message, not its own.
			io.WriteString(c[1], "back\n")
			if got := readExactly(t, c[0], 5); got != "back\n" {
				t.Errorf("sender got %q, want back (its own message echoed?)", got)
			}
		})
	}
}

// TestBrokerPerSenderOrder has two clients send at once. A plain broker
// passes bytes in the chunks it reads, so two senders' lines may interleave
// mid-line; chat mode frames each sender's lines, so each receiver can check
// that every sender's lines arrive whole and in order.
func TestBrokerPerSenderOrder(t *testing.T) {
	h, address := startHub(t, "tcp", Config{Chat: true})
	c := dialN(t, h, "tcp", address, 5)
	const n = 2000
	var wg sync.WaitGroup
	for s := range 2 { // two senders at once, each in order
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := bufio.NewWriter(c[s])
			for i := range n {
				fmt.Fprintf(w, "s%d %d\n", s, i)
			}
			w.Flush()
		}()
	}
	for _, r := range c[2:] {
		r.SetReadDeadline(time.Now().Add(10 * time.Second))
		sc := bufio.NewScanner(r)
		next := [2]int{}
		userOf := map[int]int{} // sender -> chat user number
		for next[0] < n || next[1] < n {
			if !sc.Scan() {
				t.Fatalf("after %v: %v", next, sc.Err())
			}
			if strings.HasPrefix(sc.Text(), "<announce> ") {
				continue
			}
			var user, s, i int
			if _, err := fmt.Sscanf(sc.Text(), "<user%d> s%d %d", &user, &s, &i); err != nil {
				t.Fatalf("bad line %q: %v", sc.Text(), err)
			}
			if u, ok := userOf[s]; ok && u != user {
				t.Fatalf("line %q: sender %d was <user%d>", sc.Text(), s, u)
			}
			userOf[s] = user
			if i != next[s] {
				t.Fatalf("sender %d: got %d, want %d", s, i, next[s])
			}
			next[s]++
		}
	}
	wg.Wait()
}

// TestBrokerByteStreamOrder sends 1 MiB of counted bytes through a plain
// broker: every receiver gets the exact stream.
func TestBrokerByteStreamOrder(t *testing.T) {
	h, address := startHub(t, "tcp", Config{})
	c := dialN(t, h, "tcp", address, 3)
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i % 251)
	}
	go c[0].Write(want)
	for _, r := range c[1:] {
		got := readExactly(t, r, len(want))
		if got != string(want) {
			t.Fatal("stream arrived altered")
		}
	}
}

// countingMetrics records what the hub reports.
type countingMetrics struct {
	joined, left, delivered atomic.Int64
	mu                      sync.Mutex
	dropped                 map[string]int
	reasons                 map[string]int
}

func (m *countingMetrics) ClientJoined()            { m.joined.Add(1) }
func (m *countingMetrics) Received(string, int)     {}
func (m *countingMetrics) Delivered(msgs, n int)    { m.delivered.Add(int64(msgs)) }
func (m *countingMetrics) ClientLeft(reason string) { m.left.Add(1); m.count(&m.reasons, reason) }
func (m *countingMetrics) Dropped(reason string)    { m.count(&m.dropped, reason) }
func (m *countingMetrics) count(p *map[string]int, k string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if *p == nil {
		*p = map[string]int{}
	}
	(*p)[k]++
}
func (m *countingMetrics) get(p *map[string]int, k string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return (*p)[k]
}

func TestBrokerDropsSlowConsumer(t *testing.T) {
	m := &countingMetrics{}
	var log testutil.Buffer
	h, address := startHub(t, "tcp", Config{ClientQueue: 8, Metrics: m, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	// The stalled client never reads; a small receive buffer makes the
	// kernel's share of the backlog small.
	d := net.Dialer{Control: smallRcvBuf}
	stalled, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	testutil.Eventually(t, 5*time.Second, "the stalled client joined", func() bool { return h.Clients() == 1 })
	c := dialN(t, h, "tcp", address, 2)
	sender, reader := c[0], c[1]

	// Send in lockstep with a reader that keeps up, until the stalled
	// client is dropped; 16 MiB is far beyond any socket buffer.
	msg := strings.Repeat("x", 1023) + "\n"
	buf := make([]byte, len(msg))
	reader.SetReadDeadline(time.Now().Add(30 * time.Second))
	sent := 0
	for ; sent < 16<<20 && m.get(&m.dropped, string(ReasonSlowConsumer)) == 0; sent += len(msg) {
		if _, err := io.WriteString(sender, msg); err != nil {
			t.Fatalf("send: %v", err)
		}
		if _, err := io.ReadFull(reader, buf); err != nil {
			t.Fatalf("reader, after %d bytes: %v", sent, err)
		}
	}
	t.Logf("stalled client dropped after %d bytes", sent)
	if m.get(&m.dropped, string(ReasonSlowConsumer)) != 1 {
		t.Fatalf("stalled client not dropped after %d bytes", sent)
	}
	if !strings.Contains(log.String(), "dropped a slow consumer") {
		t.Errorf("drop not logged; log:\n%s", log.String())
	}
	// The others carry on.
	io.WriteString(sender, "after\n")
	if got := readExactly(t, reader, 6); got != "after\n" {
		t.Errorf("after the drop: got %q", got)
	}
	if got := h.Clients(); got != 2 {
		t.Errorf("clients = %d, want 2 after the drop", got)
	}
	// The dropped client sees the end of its stream once it reads.
	stalled.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stalled); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Errorf("stalled client: %v, want EOF or reset", err)
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func TestBrokerClientLeaves(t *testing.T) {
	m := &countingMetrics{}
	h, address := startHub(t, "tcp", Config{Metrics: m})
	c := dialN(t, h, "tcp", address, 3)
	c[2].Close()
	testutil.Eventually(t, 5*time.Second, "one client left", func() bool { return h.Clients() == 2 })
	io.WriteString(c[0], "still here\n")
	if got := readExactly(t, c[1], 11); got != "still here\n" {
		t.Errorf("got %q", got)
	}
	testutil.Eventually(t, 5*time.Second, "the leaving client counted as client-closed", func() bool {
		return m.get(&m.reasons, string(server.ReasonClientClosed)) == 1
	})
}

func TestChatSession(t *testing.T) {
	h, address := startHub(t, "tcp", Config{Chat: true, FirstUser: 4})
	a := dialN(t, h, "tcp", address, 1)[0]
	ra := bufio.NewReader(a)
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	expectLines(t, ra,
		"<announce> 127.0.0.1 is connected as <user4>.",
		"<announce> already connected: nobody.")
	b, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rb := bufio.NewReader(b)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, r := range []*bufio.Reader{ra, rb} {
		expectLines(t, r,
			"<announce> 127.0.0.1 is connected as <user5>.",
			"<announce> already connected: 127.0.0.1 as <user4>.")
	}
	io.WriteString(b, "hi\x01 there\r\nsecond")
	b.(*net.TCPConn).CloseWrite()
	expectLines(t, ra, "<user5> hi\\001 there\r", "<user5> second<announce> <user5> is disconnected.")
}

// A hub with an Instance name puts it in every chat name, so users of
// clustered hubs, each numbering its own, stay apart.
func TestChatInstanceName(t *testing.T) {
	h, address := startHub(t, "tcp", Config{Chat: true, Instance: "alpha"})
	c := dialN(t, h, "tcp", address, 2)
	r0 := bufio.NewReader(c[0])
	c[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	expectLines(t, r0,
		"<announce> 127.0.0.1 is connected as <user1@alpha>.",
		"<announce> already connected: nobody.",
		"<announce> 127.0.0.1 is connected as <user2@alpha>.",
		"<announce> already connected: 127.0.0.1 as <user1@alpha>.")
	io.WriteString(c[1], "hello\n")
	c[1].Close()
	expectLines(t, r0, "<user2@alpha> hello", "<announce> <user2@alpha> is disconnected.")
}

func expectLines(t *testing.T, r *bufio.Reader, want ...string) {
	t.Helper()
	for _, w := range want {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading %q: %v (got %q)", w, err, line)
		}
		if got := strings.TrimSuffix(line, "\n"); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
	}
}

func TestBrokerShutdownEndsClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{})
	srv := &server.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	c := dialN(t, h, "tcp", ln.Addr().String(), 2)
	srv.Close()
	<-done
	c[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c[0].Read(make([]byte, 1)); err == nil {
		t.Error("client still served after Close")
	}
}

func TestBrokerIdleTimeout(t *testing.T) {
	m := &countingMetrics{}
	h, address := startHub(t, "tcp", Config{IdleTimeout: 750 * time.Millisecond, Metrics: m})
	c := dialN(t, h, "tcp", address, 2)
	// Keep c[0] busy sending, so c[1] is busy receiving: both stay.
	for range 5 {
		io.WriteString(c[0], "tick\n")
		readExactly(t, c[1], 5)
		if h.Clients() != 2 {
			break
		}
		c[1].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		c[1].Read(make([]byte, 1)) // an idle gap much shorter than the timeout
	}
	if got := h.Clients(); got != 2 {
		t.Fatalf("active clients dropped: %d left", got)
	}
	// Then silence: both go.
	testutil.Eventually(t, 5*time.Second, "idle clients dropped", func() bool {
		return m.get(&m.reasons, string(server.ReasonIdleTimeout)) == 2
	})
	if got := h.Clients(); got != 0 {
		t.Errorf("%d clients left", got)
	}
}
