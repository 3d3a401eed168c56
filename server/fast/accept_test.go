//go:build linux

package fast_test

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/server/fast"
)

// connLogged reports whether log has a "Got connection from ADDR" line.
func connLogged(log *lines, addr string) bool {
	return log.count("Got connection from "+addr) > 0
}

// TestGreetLogsPeerAddresses checks the peer addresses the loop reads
// from accept4 itself: IPv4, IPv6 and an IPv4 client of a dual-stack
// listener, which is logged as IPv4.
func TestGreetLogsPeerAddresses(t *testing.T) {
	for _, tc := range []struct{ listen, dial, network string }{
		{"127.0.0.1:0", "127.0.0.1", "tcp4"},
		{"[::1]:0", "::1", "tcp6"},
		{"[::]:0", "127.0.0.1", "tcp4"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			ln, err := net.Listen("tcp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			log := &lines{}
			srv := &fast.Server{Service: fast.Greet, Message: []byte(greeting), Logger: slog.New(log), LogConnections: true}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			c, err := net.DialTimeout(tc.network, net.JoinHostPort(tc.dial, port), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if got, err := io.ReadAll(c); err != nil || string(got) != greeting {
				t.Fatalf("got %q, %v", got, err)
			}
			local := c.LocalAddr().String()
			testutil.Eventually(t, 5*time.Second, "a connection line for "+local, func() bool { return connLogged(log, local) })
		})
	}
}

// TestGreetBurstsAfterSingleClient runs one client long enough for the
// loop to accept one connection per wake, then a burst of 64 clients: every
// client gets the whole greeting and every connection is logged once.
func TestGreetBurstsAfterSingleClient(t *testing.T) {
	log := &lines{}
	srv := &fast.Server{Service: fast.Greet, Message: []byte(greeting), Logger: slog.New(log), LogConnections: true}
	addr, _ := start(t, srv)
	greet := func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		if err == nil && string(got) != greeting {
			t.Errorf("got %q", got)
		}
		return err
	}
	const serial, clients, each = 50, 64, 20
	for range serial {
		if err := greet(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				if err := greet(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := serial + clients*each
	testutil.Eventually(t, 10*time.Second, "a connection line for every client", func() bool {
		return log.count("Got connection from 127.0.0.1:") >= want
	})
}

// TestGreetSurvivesResets: clients that reset before, during or after the
// greeting (some after sending bytes the server never reads) cost the
// greeting loop nothing: the clients around them get whole greetings, and
// the lingering sockets are all closed in the end.
func TestGreetSurvivesResets(t *testing.T) {
	srv := &fast.Server{Service: fast.Greet, Message: []byte(greeting)}
	addr, _ := start(t, srv)
	base := fdCount(t)
	for i := range 300 {
		c := dial(t, addr)
		switch i % 3 {
		case 0: // reset at once
		case 1: // talk, then reset with the greeting unread
			c.Write([]byte("hello\n"))
		case 2: // read the greeting, then reset instead of closing
			if got, err := io.ReadAll(c); err != nil || string(got) != greeting {
				t.Fatalf("client %d: %q, %v", i, got, err)
			}
		}
		c.SetLinger(0)
		c.Close()
		if i%10 == 0 {
			c := dial(t, addr)
			if got, err := io.ReadAll(c); err != nil || string(got) != greeting {
				t.Fatalf("a client after %d resets: %q, %v", i, got, err)
			}
			c.Close()
		}
	}
	testutil.Eventually(t, 10*time.Second, "every greeted socket closed", func() bool { return fdCount(t) <= base })
}

// fdCount returns the number of descriptors this process holds.
func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
