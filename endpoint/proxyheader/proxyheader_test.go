package proxyheader

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// pair returns a connected loopback TCP pair.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestAcceptV1AndV2(t *testing.T) {
	src := &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 40000}
	dst := &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 443}
	for _, v := range []byte{1, 2} {
		client, server := pair(t)
		var b bytes.Buffer
		if err := Write(&b, v, src, dst); err != nil {
			t.Fatal(err)
		}
		b.WriteString("hello")
		client.Write(b.Bytes())
		client.(*net.TCPConn).CloseWrite()
		c, h, err := Accept(server, time.Second)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if h.Version != v {
			t.Errorf("version %d, want %d", h.Version, v)
		}
		if c.RemoteAddr().String() != src.String() || c.LocalAddr().String() != dst.String() {
			t.Errorf("v%d: addrs %s -> %s, want %s -> %s", v, c.RemoteAddr(), c.LocalAddr(), src, dst)
		}
		rest, err := io.ReadAll(c)
		if err != nil || string(rest) != "hello" {
			t.Errorf("v%d: payload %q, %v", v, rest, err)
		}
	}
}

func TestAcceptRefusals(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"missing", "GET / HTTP/1.0\r\n\r\n", ErrMissing},
		{"garbage v1", "PROXY TCP4 1.2.3.4 nonsense\r\n", ErrMalformed},
		{"bad family", "PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 without end", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2", ErrMalformed},
		{"v2 truncated", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01\x02", ErrMalformed},
		{"empty", "", ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := pair(t)
			io.WriteString(client, tt.in)
			client.(*net.TCPConn).CloseWrite()
			_, _, err := Accept(server, time.Second)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Accept(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// A client that sends part of a v2 signature, or nothing, and stalls
// (slowloris) is refused when the header timeout passes, not held for ever.
// (A partial v1 line is refused at once as malformed.)
func TestAcceptTimeout(t *testing.T) {
	for _, in := range []string{"", "\r\n\r\n\x00"} {
		testAcceptTimeout(t, in)
	}
}

func testAcceptTimeout(t *testing.T, in string) {
	client, server := pair(t)
	io.WriteString(client, in)
	done := make(chan error, 1)
	go func() {
		_, _, err := Accept(server, 200*time.Millisecond)
		done <- err
	}()
	ctx := testutil.Context(t, 5*time.Second)
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	case <-ctx.Done():
		t.Fatal("Accept did not time out")
	}
}

// A LOCAL header (health check) keeps the socket's own addresses.
func TestAcceptLocal(t *testing.T) {
	client, server := pair(t)
	Write(client, 2, &net.UnixAddr{Name: "x", Net: "unix"}, &net.TCPAddr{})
	c, h, err := Accept(server, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Command.IsLocal() || c.RemoteAddr().String() != client.LocalAddr().String() {
		t.Fatalf("LOCAL header: command %v, remote %s", h.Command, c.RemoteAddr())
	}
}

func TestWriteMixedFamilies(t *testing.T) {
	var b bytes.Buffer
	src := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}
	dst := &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 2}
	if err := Write(&b, 1, src, dst); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n" {
		t.Fatalf("header %q", got)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]byte{"1": 1, "v1": 1, "2": 2, "v2": 2} {
		if v, err := ParseVersion(in); err != nil || v != want {
			t.Errorf("ParseVersion(%q) = %d, %v", in, v, err)
		}
	}
	for _, in := range []string{"", "3", "V1", "v"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) accepted", in)
		}
	}
}

// memConn is a net.Conn over a byte slice, for fuzzing without sockets.
type memConn struct {
	r *bytes.Reader
	net.Conn
}

func (m *memConn) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzAccept feeds arbitrary bytes as the start of a connection: Accept
// never panics, and when it accepts, every byte after the header is still
// read, and the header it reports, written again, parses to the same
// addresses.
func FuzzAccept(f *testing.F) {
	var v2 bytes.Buffer
	Write(&v2, 2, &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}, &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 2})
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nrest"))
	f.Add([]byte("PROXY TCP6 ::1 ::2 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(append(v2.Bytes(), "data"...))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, h, err := Accept(&memConn{r: bytes.NewReader(in)}, time.Second)
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(c)
		if len(rest) > len(in) {
			t.Fatalf("read %d bytes after the header from %d", len(rest), len(in))
		}
		if !bytes.HasSuffix(in, rest) {
			t.Fatalf("payload %q is not the end of the input %q", rest, in)
		}
		if tp := h.TransportProtocol; h.Command.IsLocal() || !(tp.IsIPv4() || tp.IsIPv6()) || !(tp.IsStream() || tp.IsDatagram()) {
			return
		}
		var b bytes.Buffer
		if _, err := h.WriteTo(&b); err != nil {
			return // some parsed headers (unknown families) cannot be written back
		}
		c2, _, err := Accept(&memConn{r: bytes.NewReader(b.Bytes())}, time.Second)
		if err != nil {
			t.Fatalf("header %q reparsed: %v", b.Bytes(), err)
		}
		if c2.RemoteAddr().String() != c.RemoteAddr().String() {
			t.Fatalf("remote %s became %s", c.RemoteAddr(), c2.RemoteAddr())
		}
	})
}
