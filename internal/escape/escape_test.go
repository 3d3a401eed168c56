package escape

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"plain", "plain"},
		{`Thank you for connecting\n`, "Thank you for connecting\n"},
		{`a\r\nb`, "a\r\nb"},
		{`\t\0\\`, "\t\x00\\"},
		{`\x41\x7a\xFF`, "Az\xff"},
		{`\x00end`, "\x00end"},
		{"héllo\\n", "héllo\n"},
	}
	for _, tt := range tests {
		got, err := Decode(tt.in)
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in, mention string
	}{
		{`abc\`, "trailing backslash at offset 3"},
		{`\q`, `\q at offset 0`},
		{`x\x4`, `\x needs two hex digits at offset 1`},
		{`\xZZ`, `\xZZ at offset 0`},
		{`\x+1`, `\x+1`},
	}
	for _, tt := range tests {
		_, err := Decode(tt.in)
		if err == nil {
			t.Errorf("Decode(%q) succeeded", tt.in)
			continue
		}
		if !errors.Is(err, ErrBadEscape) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Decode(%q) error %q; want ErrBadEscape mentioning %q", tt.in, err, tt.mention)
		}
	}
}

// FuzzDecode checks that Decode never panics, never grows its input, and is
// the identity on text without backslashes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`a\nb`, `\x41`, `\`, `\x`, `\x4`, `\\\\`, "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrBadEscape) {
				t.Fatalf("Decode(%q): %v does not wrap ErrBadEscape", s, err)
			}
			return
		}
		if len(out) > len(s) {
			t.Fatalf("Decode(%q) grew to %d bytes", s, len(out))
		}
		if !strings.Contains(s, `\`) && !bytes.Equal(out, []byte(s)) {
			t.Fatalf("Decode(%q) = %q changed text without escapes", s, out)
		}
	})
}
