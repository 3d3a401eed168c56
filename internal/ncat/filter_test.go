package ncat

import (
	"bytes"
	"testing"
)

func TestCRLF(t *testing.T) {
	tests := []struct {
		in   []string // successive reads
		want string
	}{
		{[]string{"a\nb\n"}, "a\r\nb\r\n"},
		{[]string{"a\r\nb"}, "a\r\nb"},
		{[]string{"a\r", "\nb\n"}, "a\r\nb\r\n"},
		{[]string{"\n\n"}, "\r\n\r\n"},
		{[]string{""}, ""},
	}
	for _, tt := range tests {
		var c crlf
		var got []byte
		for _, p := range tt.in {
			got = append(got, c.translate([]byte(p))...)
		}
		if string(got) != tt.want {
			t.Errorf("crlf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTelnet(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"plain", []byte("hello"), nil},
		{"do", []byte{255, 253, 1}, []byte{255, 252, 1}},
		{"will", []byte{255, 251, 3}, []byte{255, 254, 3}},
		{"dont and wont need no answer", []byte{255, 254, 1, 255, 252, 3}, nil},
		{"escaped 0xff", []byte{'a', 255, 255, 253, 'b'}, nil},
		{"subnegotiation", []byte{255, 250, 24, 1, 255, 240, 255, 253, 31}, []byte{255, 252, 31}},
		{"nop", []byte{255, 241, 255, 251, 1}, []byte{255, 254, 1}},
	}
	for _, tt := range tests {
		var tn telnet
		if got := tn.filter(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: reply %v, want %v", tt.name, got, tt.want)
		}
		// Fed one byte at a time, the answer is the same.
		var split telnet
		var got []byte
		for _, b := range tt.in {
			got = append(got, split.filter([]byte{b})...)
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("%s split: reply %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzTelnet feeds server bytes (untrusted) to the negotiation filter: it
// must not panic, must answer the same whether fed at once or split, and
// answers only with three-byte refusals.
func FuzzTelnet(f *testing.F) {
	f.Add([]byte{255, 253, 1, 'h', 'i'}, 2)
	f.Add([]byte{255, 250, 1, 255, 255, 255, 240}, 3)
	f.Fuzz(func(t *testing.T, p []byte, cut int) {
		var whole telnet
		want := whole.filter(p)
		if cut < 0 {
			cut = -cut
		}
		if len(p) > 0 {
			cut %= len(p) + 1
		} else {
			cut = 0
		}
		var split telnet
		got := append(split.filter(p[:cut]), split.filter(p[cut:])...)
		if !bytes.Equal(got, want) {
			t.Fatalf("split at %d: %v, whole: %v", cut, got, want)
		}
		if len(want)%3 != 0 {
			t.Fatalf("reply %v is not made of 3-byte commands", want)
		}
		for i := 0; i < len(want); i += 3 {
			if want[i] != telnetIAC || (want[i+1] != telnetWONT && want[i+1] != telnetDONT) {
				t.Fatalf("reply %v is not a refusal", want[i:i+3])
			}
		}
	})
}

// FuzzCRLF checks that the translation never leaves a bare LF and does not
// depend on how standard input's reads split the bytes.
func FuzzCRLF(f *testing.F) {
	f.Add([]byte("a\r\nb\n"), 2)
	f.Fuzz(func(t *testing.T, p []byte, cut int) {
		var whole crlf
		want := whole.translate(p)
		if cut < 0 {
			cut = -cut
		}
		cut %= len(p) + 1
		var split crlf
		got := append(split.translate(p[:cut]), split.translate(p[cut:])...)
		if !bytes.Equal(got, want) {
			t.Fatalf("split at %d: %q, whole: %q", cut, got, want)
		}
		for i, b := range want {
			if b == '\n' && (i == 0 || want[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", i, want)
			}
		}
		if n := bytes.Count(want, []byte("\n")); n != bytes.Count(p, []byte("\n")) {
			t.Fatalf("%d line ends became %d", bytes.Count(p, []byte("\n")), n)
		}
	})
}

func TestHexDump(t *testing.T) {
	// What ncat 7.93 -x wrote for these two reads.
	got := string(hexDump([]byte("client\n"))) + string(hexDump([]byte("server says hello there, a longer line\n")))
	want := "0000   63 6c 69 65 6e 74 0a                              client.         \n" +
		"0000   73 65 72 76 65 72 20 73  61 79 73 20 68 65 6c 6c  server.says.hell\n" +
		"0010   6f 20 74 68 65 72 65 2c  20 61 20 6c 6f 6e 67 65  o.there,.a.longe\n" +
		"0020   72 20 6c 69 6e 65 0a                              r.line.         \n"
	if got != want {
		t.Errorf("hexDump:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzHexDump: every 16 bytes of a read make one 73-byte line whose hex
// digits spell the bytes back.
func FuzzHexDump(f *testing.F) {
	f.Add([]byte("hello\x00\xff"))
	f.Fuzz(func(t *testing.T, p []byte) {
		out := hexDump(p)
		lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
		if len(p) == 0 {
			if len(out) != 0 {
				t.Fatalf("empty read dumped as %q", out)
			}
			return
		}
		if want := (len(p) + 15) / 16; len(lines) != want {
			t.Fatalf("%d lines for %d bytes, want %d", len(lines), len(p), want)
		}
		var back []byte
		for _, l := range lines {
			if len(l) != 73 {
				t.Fatalf("line %q is %d bytes, want 73", l, len(l))
			}
			for _, field := range bytes.Fields(l[7:56]) {
				var b byte
				for _, c := range field {
					b = b<<4 | byte(bytes.IndexByte([]byte("0123456789abcdef"), c))
				}
				back = append(back, b)
			}
		}
		if !bytes.Equal(back, p) {
			t.Fatalf("dump of %q reads back as %q", p, back)
		}
	})
}
