package cluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"sockit/broker"
	"sockit/internal/testutil"
	"sockit/server"
)

// instance is one sockit broker joined to NATS: a hub, its server and link.
type instance struct {
	hub   *broker.Hub
	srv   *server.Server
	link  *Link
	addr  string
	done  chan error
	conns []net.Conn
}

func startInstance(t *testing.T, url string) *instance {
	t.Helper()
	ctx := testutil.Context(t, 10*time.Second)
	link, err := Dial(ctx, Config{URLs: []string{url}, Subject: "test." + t.Name(), MaxReconnectDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{link: link, done: make(chan error, 1)}
	in.hub = broker.New(broker.Config{Relay: link})
	if err := link.Attach(in.hub); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.addr = ln.Addr().String()
	in.srv = &server.Server{Handler: in.hub}
	go func() { in.done <- in.srv.Serve(ln) }()
	t.Cleanup(in.stop)
	return in
}

func (in *instance) stop() {
	if in.srv == nil {
		return
	}
	in.srv.Close()
	in.hub.Close()
	<-in.done
	in.link.Close()
	in.srv = nil
}

// clients connects n clients to in, waiting until the hub counts them.
func (in *instance) clients(t *testing.T, n int) []*bufio.Reader {
	t.Helper()
	base := in.hub.Clients()
	var rs []*bufio.Reader
	for range n {
		c, err := net.Dial("tcp", in.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		rs = append(rs, bufio.NewReader(c))
		in.conns = append(in.conns, c)
	}
	testutil.Eventually(t, 5*time.Second, "clients joined", func() bool { return in.hub.Clients() == base+n })
	return rs
}

func startNATS(t *testing.T, address string) *Server {
	t.Helper()
	s, err := Listen(address, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sendLines writes count numbered lines tagged tag, then "end tag".
func sendLines(t *testing.T, c net.Conn, tag string, count int) {
	t.Helper()
	var b strings.Builder
	for i := range count {
		fmt.Fprintf(&b, "%s %d\n", tag, i)
	}
	fmt.Fprintf(&b, "end %s\n", tag)
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
}

// expectLines reads until "end tag" and checks the lines were exactly the
// numbered ones, once each, in order.
func expectLines(t *testing.T, r *bufio.Reader, tag string, count int) {
	t.Helper()
	var got []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading %s lines after %d: %v", tag, len(got), err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "end "+tag {
			break
		}
		if strings.HasPrefix(line, "end probe ") {
			continue // TestNATSRestartMidTraffic's probes also reach local clients
		}
		got = append(got, line)
	}
	want := make([]string, count)
	for i := range want {
		want[i] = fmt.Sprintf("%s %d", tag, i)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %d lines %q..., want %d in order, once each", tag, len(got), head(got), count)
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func TestThreeInstancesOneBroker(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	a, b, c := startInstance(t, ns.URL()), startInstance(t, ns.URL()), startInstance(t, ns.URL())
	ra, rb, rc := a.clients(t, 2), b.clients(t, 2), c.clients(t, 2)

	sendLines(t, a.conns[0], "fromA", 500)
	for _, r := range []*bufio.Reader{ra[1], rb[0], rb[1], rc[0], rc[1]} {
		expectLines(t, r, "fromA", 500)
	}
	// Nothing came back to the sender: its next line is from C.
	sendLines(t, c.conns[1], "fromC", 3)
	for _, r := range []*bufio.Reader{ra[0], ra[1], rb[0], rb[1], rc[0]} {
		expectLines(t, r, "fromC", 3)
	}
}

func TestRestartedInstanceRejoins(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	a, b := startInstance(t, ns.URL()), startInstance(t, ns.URL())
	ra, rb := a.clients(t, 1), b.clients(t, 1)
	sendLines(t, a.conns[0], "before", 10)
	expectLines(t, rb[0], "before", 10)

	b.stop()
	b2 := startInstance(t, ns.URL())
	rb2 := b2.clients(t, 1)
	sendLines(t, a.conns[0], "after", 10)
	expectLines(t, rb2[0], "after", 10)
	sendLines(t, b2.conns[0], "back", 10)
	expectLines(t, ra[0], "back", 10)
}

func TestNATSRestartMidTraffic(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	address := ns.Addr().String()
	a, b := startInstance(t, ns.URL()), startInstance(t, ns.URL())
	ra, rb := a.clients(t, 2), b.clients(t, 1)
	sendLines(t, a.conns[0], "up", 10)
	expectLines(t, ra[1], "up", 10)
	expectLines(t, rb[0], "up", 10)

	ns.Close()
	testutil.Eventually(t, 5*time.Second, "links notice NATS is gone", func() bool {
		return !a.link.Connected() && !b.link.Connected()
	})
	// Local clients keep talking while NATS is down.
	sendLines(t, a.conns[0], "local", 10)
	expectLines(t, ra[1], "local", 10)

	startNATS(t, address)
	testutil.Eventually(t, 10*time.Second, "links reconnected", func() bool {
		return a.link.Connected() && b.link.Connected()
	})
	// Messages sent in the outage may or may not have crossed; wait until
	// a probe crosses, then the traffic must be whole again.
	probe(t, a.conns[0], rb[0])
	sendLines(t, a.conns[0], "again", 100)
	expectLines(t, rb[0], "again", 100)
	expectLines(t, ra[1], "again", 100)
	sendLines(t, b.conns[0], "fromB", 100)
	expectLines(t, ra[0], "fromB", 100)
	expectLines(t, ra[1], "fromB", 100)
}

// probe sends "end probe N" lines from w until one reaches r. Later
// probes in flight are skipped by expectLines.
func probe(t *testing.T, w net.Conn, r *bufio.Reader) {
	t.Helper()
	got := make(chan struct{})
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil || strings.HasPrefix(line, "end probe") {
				close(got)
				return
			}
		}
	}()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond) // polling: one probe per tick until it crosses
	defer tick.Stop()
	for i := 0; ; i++ {
		fmt.Fprintf(w, "end probe %d\n", i)
		select {
		case <-got:
			return
		case <-deadline:
			t.Fatal("no traffic crossed after NATS came back")
		case <-tick.C:
		}
	}
}

func TestDialUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + ln.Addr().String()
	ln.Close()
	ctx := testutil.Context(t, 10*time.Second)
	start := time.Now()
	_, err = Dial(ctx, Config{URLs: []string{url}, ConnectTimeout: 2 * time.Second})
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if !strings.Contains(err.Error(), url) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q should be one line naming %s", err, url)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %v to fail", d)
	}
}

func TestListenPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(ln.Addr().String(), nil)
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Listen on a port in use: %v", err)
	}
}
