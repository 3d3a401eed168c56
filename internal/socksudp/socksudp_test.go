package socksudp

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		host    string
		port    uint16
		payload string
		wantErr string
	}{
		{"IPv4", []byte("\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35hi"), "127.0.0.1", 53, "hi", ""},
		{"IPv6", append([]byte("\x00\x00\x00\x04"), append(netip.IPv6Loopback().AsSlice(), 0, 53, 'x')...), "::1", 53, "x", ""},
		{"mapped IPv6", append([]byte("\x00\x00\x00\x04"), append(netip.MustParseAddr("::ffff:10.0.0.1").AsSlice(), 1, 0)...), "10.0.0.1", 256, "", ""},
		{"name", []byte("\x00\x00\x00\x03\x09localhost\x00\x35q"), "localhost", 53, "q", ""},
		{"longest name", []byte("\x00\x00\x00\x03\xff" + strings.Repeat("n", 255) + "\x00\x35"), strings.Repeat("n", 255), 53, "", ""},
		{"longest name, short", []byte("\x00\x00\x00\x03\xff" + strings.Repeat("n", 255)), "", 0, "", "short address"},
		{"short", []byte("\x00\x00\x00"), "", 0, "", "3 bytes"},
		{"reserved", []byte("\x00\x01\x00\x01\x7f\x00\x00\x01\x00\x35"), "", 0, "reserved", ""},
		{"fragment", []byte("\x00\x00\x02\x01\x7f\x00\x00\x01\x00\x35"), "", 0, "", "fragment 2"},
		{"short IPv4", []byte("\x00\x00\x00\x01\x7f\x00\x00\x01\x00"), "", 0, "", "short address"},
		{"short name", []byte("\x00\x00\x00\x03\x09local\x00\x35"), "", 0, "", "short address"},
		{"empty name", []byte("\x00\x00\x00\x03\x00\x00\x35"), "", 0, "", "empty host name"},
		{"no name length", []byte("\x00\x00\x00\x03"), "", 0, "", "short address"},
		{"address type", []byte("\x00\x00\x00\x02\x00\x35"), "", 0, "", "address type 2"},
	}
	for _, tt := range tests {
		host, port, payload, err := Parse(tt.in)
		if tt.wantErr != "" || tt.name == "reserved" {
			want := tt.wantErr
			if want == "" {
				want = tt.payload
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err %v, want one containing %q", tt.name, err, want)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port || string(payload) != tt.payload {
			t.Errorf("%s: %q %d %q %v, want %q %d %q", tt.name, host, port, payload, err, tt.host, tt.port, tt.payload)
		}
	}
}

// FuzzParse: client datagrams are untrusted. Parsing never panics,
// errors are one line, and an IP header parsed is the one AppendAddr writes
// for that address, and Append writes back what it parses.
func FuzzParse(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35hi"))
	f.Add([]byte("\x00\x00\x00\x03\x09localhost\x00\x35q"))
	f.Add(append([]byte("\x00\x00\x00\x04"), append(netip.IPv6Loopback().AsSlice(), 0, 53)...))
	f.Add([]byte("\x00\x00\x01\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		host, port, payload, err := Parse(in)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if len(payload) > len(in) {
			t.Fatalf("payload longer than the datagram")
		}
		again, err := Append(nil, host, port)
		if err != nil {
			t.Fatalf("Append(%q) of a parsed header: %v", host, err)
		}
		ip, perr := netip.ParseAddr(host)
		if in[3] == 4 && ip.Is4() || in[3] == 3 && perr == nil {
			return // written back as IPv4, or as the address the name spells
		}
		if !bytes.Equal(append(again, payload...), in) {
			t.Fatalf("header %x parsed as %q port %d, written back as %x", in, host, port, again)
		}
	})
}

func TestAppend(t *testing.T) {
	for _, tt := range []struct {
		host    string
		port    uint16
		want    string
		wantErr string
	}{
		{"127.0.0.1", 53, "\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35", ""},
		{"::ffff:127.0.0.1", 53, "\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35", ""},
		{"::1", 1, "\x00\x00\x00\x04" + strings.Repeat("\x00", 15) + "\x01\x00\x01", ""},
		{"example.test", 80, "\x00\x00\x00\x03\x0cexample.test\x00\x50", ""},
		{"", 80, "", "0 bytes"},
		{strings.Repeat("n", 256), 80, "", "256 bytes"},
	} {
		got, err := Append(nil, tt.host, tt.port)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Append(%q): %q, %v; want an error containing %q", tt.host, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("Append(%q, %d) = %q, %v; want %q", tt.host, tt.port, got, err, tt.want)
		}
	}
}
