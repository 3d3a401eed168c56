package addr

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Addr
		str  string
	}{
		{":12345", Addr{Scheme: TCP, Port: "12345"}, "tcp://:12345"},
		{"localhost:12345", Addr{Scheme: TCP, Host: "localhost", Port: "12345"}, "tcp://localhost:12345"},
		{"127.0.0.1:0", Addr{Scheme: TCP, Host: "127.0.0.1", Port: "0"}, "tcp://127.0.0.1:0"},
		{"[::1]:80", Addr{Scheme: TCP, Host: "::1", Port: "80"}, "tcp://[::1]:80"},
		{"tcp4://0.0.0.0:1", Addr{Scheme: TCP4, Host: "0.0.0.0", Port: "1"}, "tcp4://0.0.0.0:1"},
		{"tcp6://[fe80::1%lo]:22", Addr{Scheme: TCP6, Host: "fe80::1%lo", Port: "22"}, "tcp6://[fe80::1%lo]:22"},
		{"TCP://example.com:http", Addr{Scheme: TCP, Host: "example.com", Port: "http"}, "tcp://example.com:http"},
		{"udp://:53", Addr{Scheme: UDP, Port: "53"}, "udp://:53"},
		{"udp4://127.0.0.1:9", Addr{Scheme: UDP4, Host: "127.0.0.1", Port: "9"}, "udp4://127.0.0.1:9"},
		{"udp6://[::1]:9", Addr{Scheme: UDP6, Host: "::1", Port: "9"}, "udp6://[::1]:9"},
		{"tls://host:443", Addr{Scheme: TLS, Host: "host", Port: "443"}, "tls://host:443"},
		{"unix:///run/x.sock", Addr{Scheme: Unix, Path: "/run/x.sock"}, "unix:///run/x.sock"},
		{"unix://rel.sock", Addr{Scheme: Unix, Path: "rel.sock"}, "unix://rel.sock"},
		{"unix:/run/x.sock", Addr{Scheme: Unix, Path: "/run/x.sock"}, "unix:///run/x.sock"},
		{"unix://@abstract", Addr{Scheme: Unix, Path: "@abstract"}, "unix://@abstract"},
		{"unixgram:///tmp/g", Addr{Scheme: Unixgram, Path: "/tmp/g"}, "unixgram:///tmp/g"},
		{"-", Addr{Scheme: Stdio}, "-"},
		{"stdio", Addr{Scheme: Stdio}, "-"},
		{"stdio://", Addr{Scheme: Stdio}, "-"},
		{"exec:cat -u", Addr{Scheme: Exec, Command: "cat -u"}, "exec:cat -u"},
		{"sh:echo hi | tr a-z A-Z", Addr{Scheme: Shell, Command: "echo hi | tr a-z A-Z"}, "sh:echo hi | tr a-z A-Z"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Fatalf("String() = %q, want %q", s, tt.str)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in      string
		mention string // the bad part the message must name
	}{
		{"", "empty"},
		{":99999", `bad port "99999"`},
		{"host:", "missing port"},
		{"host", "missing port"},
		{"ftp://host:21", `unknown scheme "ftp"`},
		{"tcp://host:80/path", "unexpected path"},
		{"[::1:80", "missing ']'"},
		{"[zz::1]:80", "bad IPv6 literal"},
		{"ho st:80", `bad character ' '`},
		{"host:8 0", `bad port "8 0"`},
		{"unix://", "needs a socket path"},
		{"unixgram://@", "needs a socket path"},
		{"unix:///a\x00b", "NUL byte"},
		{"exec:", "needs a program"},
		{"sh:  ", "needs a command"},
		{"stdio://x", "stdio takes nothing"},
		{"1:2:3", "too many colons"},
		{strings.Repeat("a", 254) + ":1", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.in)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

func TestNetwork(t *testing.T) {
	tests := []struct {
		in       string
		network  string
		datagram bool
		tls      bool
	}{
		{":1", "tcp", false, false},
		{"tcp6://[::1]:1", "tcp6", false, false},
		{"tls4://h:1", "tcp4", false, true},
		{"tls6://h:1", "tcp6", false, true},
		{"tls://h:1", "tcp", false, true},
		{"udp://:1", "udp", true, false},
		{"unixgram:///x", "unixgram", true, false},
		{"unix:///x", "unix", false, false},
		{"-", "", false, false},
		{"exec:cat", "", false, false},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if a.Network() != tt.network || a.IsDatagram() != tt.datagram || a.IsTLS() != tt.tls {
			t.Errorf("%q: Network %q IsDatagram %v IsTLS %v; want %q %v %v",
				tt.in, a.Network(), a.IsDatagram(), a.IsTLS(), tt.network, tt.datagram, tt.tls)
		}
	}
	if hp := (Addr{Scheme: TCP, Host: "::1", Port: "80"}).HostPort(); hp != "[::1]:80" {
		t.Errorf("HostPort = %q", hp)
	}
}

// FuzzParse checks that Parse never panics, that its errors are one line and
// wrap ErrSyntax, and that what it accepts prints back to the same address.
func FuzzParse(f *testing.F) {
	for _, s := range []string{":12345", "[::1]:80", "udp://:53", "unix:///x", "unix:/x", "-", "exec:cat",
		"sh:ls", "tcp6://[fe80::1%lo]:1", "tls://a:b", "unixgram://@a", "host:http", "stdio://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrSyntax", s, err)
			}
			return
		}
		b, err := Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its String %q does not parse: %v", s, a, a.String(), err)
		}
		if a != b {
			t.Fatalf("round trip of %q: %+v became %+v", s, a, b)
		}
	})
}

func TestTransport(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"tls://localhost:443", "tcp://localhost:443"},
		{"tls4://127.0.0.1:443", "tcp4://127.0.0.1:443"},
		{"tls6://[::1]:443", "tcp6://[::1]:443"},
		{"udp://127.0.0.1:53", "udp://127.0.0.1:53"},
	} {
		a, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Transport().String(); got != tt.want {
			t.Errorf("%s: Transport %s, want %s", tt.in, got, tt.want)
		}
	}
}
