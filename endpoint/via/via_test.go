package via

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Proxy
		bad  bool
	}{
		{in: "socks5://127.0.0.1:1080", want: Proxy{Kind: SOCKS5, Addr: "127.0.0.1:1080"}},
		{in: "socks5h://u:p@proxy", want: Proxy{Kind: SOCKS5, Addr: "proxy:1080", User: "u", Password: "p", HasAuth: true}},
		{in: "SOCKS4://id@[::1]:9", want: Proxy{Kind: SOCKS4, Addr: "[::1]:9", User: "id", HasAuth: true}},
		{in: "socks4a://h:1", want: Proxy{Kind: SOCKS4a, Addr: "h:1"}},
		{in: "http://user:p%40ss@10.0.0.1", want: Proxy{Kind: HTTP, Addr: "10.0.0.1:8080", User: "user", Password: "p@ss", HasAuth: true}},
		{in: "http://h:3128/", want: Proxy{Kind: HTTP, Addr: "h:3128"}},
		{in: "https://h:443", bad: true},
		{in: "ftp://h:21", bad: true},
		{in: "socks5://", bad: true},
		{in: "socks5://h:0", bad: true},
		{in: "socks5://h:99999", bad: true},
		{in: "http://h/path", bad: true},
		{in: "127.0.0.1:1080", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) = %+v, %v; want ErrSyntax", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if s := (Proxy{Kind: HTTP, Addr: "h:1", User: "u", Password: "secret", HasAuth: true}).String(); s != "http://u@h:1" {
		t.Errorf("String() = %q, want the password elided", s)
	}
}
