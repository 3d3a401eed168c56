package cluster

import (
	"slices"
	"strings"
	"testing"
)

func TestParseURLs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"nats://127.0.0.1:4222", []string{"nats://127.0.0.1:4222"}, ""},
		{"nats://a:1, nats://b", []string{"nats://a:1", "nats://b:4222"}, ""},
		{"tls://[::1]:4443", []string{"tls://[::1]:4443"}, ""},
		{"nats://user:pw@h:5", []string{"nats://user:pw@h:5"}, ""},
		{"nats://h:4222/", []string{"nats://h:4222"}, ""},
		{"", nil, "no NATS URL"},
		{" , ", nil, "no NATS URL"},
		{"127.0.0.1:4222", nil, "want nats://"},
		{"http://h:80", nil, `scheme "http"`},
		{"nats://", nil, "no host"},
		{"nats://h:", nil, "empty port"},
		{"nats://h:99999", nil, "bad port"},
		{"nats://h:x", nil, "invalid port"},
		{"nats://h:1/path", nil, "want only"},
		{"nats://h:1?q=1", nil, "want only"},
		{"nats://a:1,ftp://b", nil, `"ftp://b"`},
		{"nats://[::1", nil, "missing ']'"},
		{"tls://::1", nil, "needs brackets"},
		{"tls://:::1", nil, "needs brackets"},
		{"tls://[:]:1", nil, "invalid host"},
	}
	for _, tt := range tests {
		got, err := ParseURLs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseURLs(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseURLs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseURLs checks that ParseURLs never panics, that what it accepts is
// canonical (parsing it again gives the same), and errors are one line.
func FuzzParseURLs(f *testing.F) {
	for _, s := range []string{"nats://127.0.0.1:4222", "nats://a,tls://[::1]:1", "nats://u:p@h", "nats://h:", "x", "tls://::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		urls, err := ParseURLs(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		again, err := ParseURLs(strings.Join(urls, ","))
		if err != nil {
			t.Fatalf("canonical form %v rejected: %v", urls, err)
		}
		if !slices.Equal(again, urls) {
			t.Fatalf("not canonical: %v then %v", urls, again)
		}
	})
}
