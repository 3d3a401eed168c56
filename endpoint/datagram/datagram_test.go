package datagram_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"sockit/endpoint/datagram"
)

func listen(t *testing.T, cfg datagram.Config) *datagram.Listener {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := datagram.NewListener(pc, cfg, nil)
	t.Cleanup(func() { l.Close() })
	return l
}

func peer(t *testing.T, l *datagram.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func accept(t *testing.T, l *datagram.Listener) net.Conn {
	t.Helper()
	done := make(chan net.Conn, 1)
	go func() {
		s, _ := l.Accept()
		done <- s
	}()
	select {
	case s := <-done:
		if s == nil {
			t.Fatal("Accept failed")
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("Accept timed out")
	}
	return nil
}

func TestSessionPerPeer(t *testing.T) {
	l := listen(t, datagram.Config{})
	p1, p2 := peer(t, l), peer(t, l)
	p1.Write([]byte("one"))
	s1 := accept(t, l)
	p2.Write([]byte("two"))
	s2 := accept(t, l)
	p1.Write([]byte("three"))

	buf := make([]byte, 64)
	for _, tt := range []struct {
		s    net.Conn
		want []string
	}{{s1, []string{"one", "three"}}, {s2, []string{"two"}}} {
		tt.s.SetReadDeadline(time.Now().Add(5 * time.Second))
		for _, w := range tt.want {
			n, err := tt.s.Read(buf)
			if err != nil || string(buf[:n]) != w {
				t.Fatalf("session read %q, %v; want %q", buf[:n], err, w)
			}
		}
		if tt.s.RemoteAddr() == nil {
			t.Fatal("session has no remote address")
		}
	}
	s2.Write([]byte("reply"))
	n, err := p2.Read(buf)
	if err != nil || string(buf[:n]) != "reply" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	if d, ok := s1.(interface{ Datagram() bool }); !ok || !d.Datagram() {
		t.Fatal("session does not report Datagram")
	}
}

func TestSessionIdleTimeout(t *testing.T) {
	l := listen(t, datagram.Config{IdleTimeout: 100 * time.Millisecond})
	p := peer(t, l)
	p.Write([]byte("hi"))
	s := accept(t, l)
	buf := make([]byte, 8)
	s.Read(buf)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(buf); err == nil {
		t.Fatal("idle session still readable")
	}
	// The same peer later starts a new session. Datagrams may be lost, so
	// the peer repeats itself until one is accepted.
	accepted := make(chan net.Conn, 1)
	go func() {
		s, _ := l.Accept()
		accepted <- s
	}()
	var s2 net.Conn
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(5 * time.Second)
	for s2 == nil {
		p.Write([]byte("again"))
		select {
		case s2 = <-accepted:
		case <-tick.C:
		case <-giveUp:
			t.Fatal("no new session after the idle one ended")
		}
	}
	s2.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := s2.Read(buf)
	if err != nil || string(buf[:n]) != "again" {
		t.Fatalf("new session read %q, %v", buf[:n], err)
	}
}

func TestReadDeadline(t *testing.T) {
	l := listen(t, datagram.Config{})
	p := peer(t, l)
	p.Write([]byte("x"))
	s := accept(t, l)
	s.Read(make([]byte, 8))
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, errDeadline()) {
		t.Fatalf("Read past deadline = %v", err)
	}
}

func errDeadline() error { return os.ErrDeadlineExceeded }
func TestCloseEndsSessionsAndAccept(t *testing.T) {
	l := listen(t, datagram.Config{})
	p := peer(t, l)
	p.Write([]byte("x"))
	s := accept(t, l)
	s.Read(make([]byte, 8))
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(make([]byte, 8)); err == nil || errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("session Read after listener Close = %v", err)
	}
}
