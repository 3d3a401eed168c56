package broker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"sockit/internal/cli"
	"sockit/internal/testutil"
)

// instance is a sockit command running in this test process.
type instance struct {
	cancel context.CancelFunc
	done   chan int
	log    *testutil.Buffer
	addr   string
}

var reListening = regexp.MustCompile(`listening on (\S+)`)

// startSockit runs "sockit args..." in-process and waits for its
// "listening on ADDR" line.
func startSockit(t *testing.T, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{cancel: cancel, done: make(chan int, 1), log: &testutil.Buffer{}}
	go func() {
		in.done <- cli.Main(ctx, "sockit", args, strings.NewReader(""), io.Discard, in.log)
	}()
	t.Cleanup(func() { in.stop(t) })
	testutil.Eventually(t, 10*time.Second, "sockit "+strings.Join(args, " ")+" listening", func() bool {
		select {
		case code := <-in.done:
			in.done <- code
			t.Fatalf("sockit %v exited %d:\n%s", args, code, in.log)
		default:
		}
		m := reListening.FindStringSubmatch(in.log.String())
		if m == nil {
			return false
		}
		in.addr = m[1]
		return true
	})
	return in
}

// stop cancels the instance (as SIGINT would) and waits for it to exit 0.
func (in *instance) stop(t *testing.T) {
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	select {
	case code := <-in.done:
		if code != 0 {
			t.Errorf("sockit exited %d:\n%s", code, in.log)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("sockit did not stop within 15s:\n%s", in.log)
	}
}

// client is one connection to a broker whose incoming lines are read in
// the background.
type client struct {
	conn  net.Conn
	lines chan string
}

func dialClient(t *testing.T, address string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{conn: conn, lines: make(chan string, 10000)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		defer close(c.lines)
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			c.lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	return c
}

func (c *client) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// syncClients sends "probe N" lines from c every 20 ms until every one of
// rs has seen one, so that all are joined (across instances too) before
// the real traffic. Probes still in flight are skipped by expectSeq.
func syncClients(t *testing.T, from *client, rs ...*client) {
	t.Helper()
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond) // the probing interval
		defer tick.Stop()
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(from.conn, "probe %d\n", i); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() {
		close(stop)
		<-stopped
	}()
	timeout := time.After(15 * time.Second)
	for j, r := range rs {
		for seen := false; !seen; {
			select {
			case line, ok := <-r.lines:
				if !ok {
					t.Fatalf("client %d closed while syncing", j)
				}
				seen = strings.HasPrefix(line, "probe ")
			case <-timeout:
				t.Fatalf("probes did not reach client %d within 15s", j)
			}
		}
	}
}

// sendSeq sends count numbered lines tagged tag and an end line.
func sendSeq(t *testing.T, c *client, tag string, count int) {
	t.Helper()
	var b strings.Builder
	for i := range count {
		fmt.Fprintf(&b, "%s %d\n", tag, i)
	}
	fmt.Fprintf(&b, "end %s\n", tag)
	c.send(t, b.String())
}

// expectSeq reads r's lines up to "end tag", skipping probes and lines
// tagged "late..." (sent during a NATS outage: the link buffers them and
// sends them after reconnecting, so they may or may not cross), and checks
// it got the numbered lines once each, in order.
func expectSeq(t *testing.T, r *client, tag string, count int) {
	t.Helper()
	next := 0
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("%s: connection closed after %d lines", tag, next)
			}
			switch {
			case line == "end "+tag:
				if next != count {
					t.Fatalf("%s: got %d lines, want %d", tag, next, count)
				}
				return
			case line == fmt.Sprintf("%s %d", tag, next):
				next++
			case strings.HasPrefix(line, "probe "), strings.HasPrefix(line, "late"), strings.HasPrefix(line, "end late"):
			default:
				t.Fatalf("%s: got %q, want %q (each line once, in order)", tag, line, fmt.Sprintf("%s %d", tag, next))
			}
		case <-timeout:
			t.Fatalf("%s: timed out after %d of %d lines", tag, next, count)
		}
	}
}

// expectNothing checks that r has no line waiting but probes.
func expectNothing(t *testing.T, r *client, what string) {
	t.Helper()
	for {
		select {
		case line := <-r.lines:
			if !strings.HasPrefix(line, "probe ") {
				t.Fatalf("%s: got %q, want nothing", what, line)
			}
		default:
			return
		}
	}
}
