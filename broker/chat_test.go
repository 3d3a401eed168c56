package broker

import (
	"bytes"
	"net"
	"testing"
)

func TestChatFramer(t *testing.T) {
	tests := []struct {
		name  string
		feeds []string
		want  string // everything fed, then flushed
	}{
		{"one line", []string{"hello\n"}, "<user4> hello\n"},
		{"two lines one read", []string{"a\nb\n"}, "<user4> a\n<user4> b\n"},
		{"split line", []string{"he", "llo\n"}, "<user4> hello\n"},
		{"crlf kept", []string{"a\r\n"}, "<user4> a\r\n"},
		{"tab kept", []string{"a\tb\n"}, "<user4> a\tb\n"},
		{"controls escaped", []string{"x\x01\x7f\xff\x00y\n"}, "<user4> x\\001\\177\\377\\000y\n"},
		{"escape sequence", []string{"\x1b[31mred\n"}, "<user4> \\033[31mred\n"},
		{"tail flushed", []string{"a\nb"}, "<user4> a\n<user4> b"},
		{"empty lines", []string{"\n\n"}, "<user4> \n<user4> \n"},
		{"long partial sent", []string{"0123456789", "ab\n"}, "<user4> 0123456789<user4> ab\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newChatFramer("user4", 8)
			var got []byte
			for _, p := range tt.feeds {
				got = append(got, f.feed([]byte(p))...)
			}
			got = append(got, f.flush()...)
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChatNotices(t *testing.T) {
	if got, want := string(joinNotice("127.0.0.1", "user5")), "<announce> 127.0.0.1 is connected as <user5>.\n"; got != want {
		t.Errorf("join: got %q, want %q", got, want)
	}
	if got, want := string(leaveNotice("user5")), "<announce> <user5> is disconnected.\n"; got != want {
		t.Errorf("leave: got %q, want %q", got, want)
	}
	if got, want := string(alreadyNotice(nil)), "<announce> already connected: nobody.\n"; got != want {
		t.Errorf("already, nobody: got %q, want %q", got, want)
	}
	got := string(alreadyNotice([]chatPeer{{"::1", 5, "user5"}, {"127.0.0.1", 4, "user4"}}))
	if want := "<announce> already connected: 127.0.0.1 as <user4>, ::1 as <user5>.\n"; got != want {
		t.Errorf("already: got %q, want %q", got, want)
	}
}

func TestChatHost(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5000}, "127.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 5000}, "::1"},
		{&net.UnixAddr{Name: "", Net: "unix"}, "unix"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, "/tmp/s"},
		{nil, "unknown"},
	}
	for _, tt := range tests {
		if got := chatHost(tt.addr); got != tt.want {
			t.Errorf("chatHost(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestUserIDsReuseLowest(t *testing.T) {
	var u userIDs
	u.next = 4
	a, b, c := u.get(), u.get(), u.get()
	if a != 4 || b != 5 || c != 6 {
		t.Fatalf("got %d %d %d, want 4 5 6", a, b, c)
	}
	u.put(6)
	u.put(4)
	if got := u.get(); got != 4 {
		t.Errorf("after freeing 4 and 6: got %d, want 4", got)
	}
	if got := u.get(); got != 6 {
		t.Errorf("then: got %d, want 6", got)
	}
	if got := u.get(); got != 7 {
		t.Errorf("then: got %d, want 7", got)
	}
}

// FuzzChatFramer feeds untrusted client bytes in two pieces and checks that
// the split does not change the output, every line is prefixed, and nothing
// unprintable passes through.
func FuzzChatFramer(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), 3)
	f.Add([]byte("a\r\n\x00\x1b[0m\xff"), 1)
	f.Add([]byte("\n\n\n"), 0)
	f.Fuzz(func(t *testing.T, p []byte, split int) {
		const maxLine = 1 << 20 // no early flush: output must not depend on the split
		whole := newChatFramer("user7", maxLine)
		want := append(whole.feed(p), whole.flush()...)
		if split < 0 {
			split = -split
		}
		if len(p) > 0 {
			split %= len(p) + 1
		} else {
			split = 0
		}
		parts := newChatFramer("user7", maxLine)
		got := append(parts.feed(p[:split]), parts.feed(p[split:])...)
		got = append(got, parts.flush()...)
		if !bytes.Equal(got, want) {
			t.Fatalf("split at %d: got %q, want %q", split, got, want)
		}
		for _, c := range want {
			if c != '\n' && c != '\r' && c != '\t' && (c < 0x20 || c >= 0x7f) {
				t.Fatalf("unprintable byte %#x in %q", c, want)
			}
		}
		for i, line := range bytes.SplitAfter(want, []byte("\n")) {
			if len(line) > 0 && !bytes.HasPrefix(line, []byte("<user7> ")) {
				t.Fatalf("line %d %q lacks the prefix", i, line)
			}
		}
	})
}
