package broker

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sockit/broker/cluster"
)

func startNATS(t *testing.T, address string) *cluster.Server {
	t.Helper()
	s, err := cluster.Listen(address, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startBroker(t *testing.T, natsURL string, extra ...string) *instance {
	t.Helper()
	return startSockit(t, append([]string{"broker", "127.0.0.1:0", "--cluster", natsURL, "--cluster-subject", "test." + t.Name()}, extra...)...)
}

// TestTwoInstances: a message from a client of A reaches every client of B
// once, in order, and the other way round; nothing returns to its sender.
func TestTwoInstances(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	a, b := startBroker(t, ns.URL()), startBroker(t, ns.URL())
	a1, a2 := dialClient(t, a.addr), dialClient(t, a.addr)
	b1, b2 := dialClient(t, b.addr), dialClient(t, b.addr)
	syncClients(t, a1, a2, b1, b2)

	sendSeq(t, a1, "a1", 1000)
	for _, r := range []*client{a2, b1, b2} {
		expectSeq(t, r, "a1", 1000)
	}
	sendSeq(t, b2, "b2", 1000)
	for _, r := range []*client{a1, a2, b1} {
		expectSeq(t, r, "b2", 1000)
	}
	expectNothing(t, a1, "a1's own messages")
	expectNothing(t, b2, "b2's own messages")
}

// TestThreeInstancesRestartAndNATSOutage: A, B and C form one broker; B
// restarted rejoins; NATS stopped and started mid-test: no crash, local
// clients keep talking during the outage, traffic across resumes after.
func TestThreeInstancesRestartAndNATSOutage(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	natsAddr := ns.Addr().String()
	a, b, c := startBroker(t, ns.URL()), startBroker(t, ns.URL()), startBroker(t, ns.URL())
	a1, a2 := dialClient(t, a.addr), dialClient(t, a.addr)
	b1, b2 := dialClient(t, b.addr), dialClient(t, b.addr)
	c1, c2 := dialClient(t, c.addr), dialClient(t, c.addr)
	syncClients(t, a1, a2, b1, b2, c1, c2)

	sendSeq(t, a1, "a", 500)
	for _, r := range []*client{a2, b1, b2, c1, c2} {
		expectSeq(t, r, "a", 500)
	}
	expectNothing(t, a1, "the sender")

	// Restart B: its new clients are part of the broker again.
	b.stop(t)
	b = startBroker(t, ns.URL())
	b1, b2 = dialClient(t, b.addr), dialClient(t, b.addr)
	syncClients(t, c1, a1, a2, b1, b2, c2)
	sendSeq(t, c1, "c", 500)
	for _, r := range []*client{a1, a2, b1, b2, c2} {
		expectSeq(t, r, "c", 500)
	}

	// Stop NATS: local clients keep talking.
	ns.Close()
	sendSeq(t, a1, "late-a", 100)
	expectSeq(t, a2, "late-a", 100)
	sendSeq(t, c2, "late-c", 100)
	expectSeq(t, c1, "late-c", 100)

	// Start it again on the same port: the instances reconnect on their own.
	startNATS(t, natsAddr)
	syncClients(t, a1, a2, b1, b2, c1, c2)
	syncClients(t, b1, a1, c1)
	syncClients(t, c1, a1, b1)
	sendSeq(t, b1, "again", 500)
	for _, r := range []*client{a1, a2, b2, c1, c2} {
		expectSeq(t, r, "again", 500)
	}
	for _, in := range []*instance{a, b, c} {
		if !strings.Contains(in.log.String(), "reconnected to NATS") {
			t.Errorf("no reconnection logged:\n%s", in.log)
		}
	}
}

// TestChatAcrossInstances: chat lines and join and leave notices cross
// instances; "already connected" lists the local clients only. Each
// instance numbers its own users, so names carry the instance: A's is its
// default, HOSTNAME:PORT; B's is --cluster-name b.
func TestChatAcrossInstances(t *testing.T) {
	ns := startNATS(t, "127.0.0.1:0")
	a, b := startBroker(t, ns.URL(), "--chat"), startBroker(t, ns.URL(), "--chat", "--cluster-name", "b")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(a.addr)
	userA := "<user1@" + host + ":" + port + ">"
	a1 := dialClient(t, a.addr)
	expectLine(t, a1, "<announce> 127.0.0.1 is connected as "+userA+".")
	expectLine(t, a1, "<announce> already connected: nobody.")
	b1 := dialClient(t, b.addr)
	// a1's join notice reaches B through NATS: before b1 joined, or after.
	joinA := "<announce> 127.0.0.1 is connected as " + userA + "."
	expectLinesBut(t, b1, []string{joinA},
		"<announce> 127.0.0.1 is connected as <user1@b>.",
		"<announce> already connected: nobody.")
	expectLine(t, a1, "<announce> 127.0.0.1 is connected as <user1@b>.") // b1, from B
	b1.send(t, "hi from b\n")
	expectLine(t, a1, "<user1@b> hi from b")
	a1.send(t, "hi from a\n")
	expectLinesBut(t, b1, []string{joinA}, userA+" hi from a")
	b1.conn.Close()
	expectLine(t, a1, "<announce> <user1@b> is disconnected.")
}

// expectLinesBut reads c's next lines and checks they are want, in order,
// once the lines in late (each at most once, anywhere) are left out: notices
// that cross NATS and may arrive before or after c's own lines.
func expectLinesBut(t *testing.T, c *client, late []string, want ...string) {
	t.Helper()
	pending := slices.Clone(late)
	for _, w := range want {
		for {
			got := nextLine(t, c, w)
			if i := slices.Index(pending, got); i >= 0 && got != w {
				pending = slices.Delete(pending, i, i+1)
				continue
			}
			if got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
			break
		}
	}
}

// nextLine returns c's next line, failing the test after 10 s.
func nextLine(t *testing.T, c *client, want string) string {
	t.Helper()
	select {
	case got, ok := <-c.lines:
		if !ok {
			t.Fatalf("connection closed; want %q", want)
		}
		return got
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q within 10s", want)
	}
	return ""
}

func expectLine(t *testing.T, c *client, want string) {
	t.Helper()
	if got := nextLine(t, c, want); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
