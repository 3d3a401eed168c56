package access

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		in     string
		isHost bool
		match  []string
		miss   []string
		bad    bool
	}{
		{in: "127.0.0.1", match: []string{"127.0.0.1", "::ffff:127.0.0.1"}, miss: []string{"127.0.0.2"}},
		{in: "127.0.0.0/8", match: []string{"127.0.0.1", "127.255.0.9"}, miss: []string{"128.0.0.1", "::1"}},
		{in: "10.1.2.3/8", match: []string{"10.9.9.9"}},
		{in: "::1", match: []string{"::1"}, miss: []string{"127.0.0.1"}},
		{in: "[::1]", match: []string{"::1"}},
		{in: "fd00::/8", match: []string{"fd12::1"}, miss: []string{"fe80::1"}},
		{in: " 192.168.0.0/16 ", match: []string{"192.168.3.4"}},
		{in: "localhost", isHost: true},
		{in: "db-1.example.com", isHost: true},
		{in: "", bad: true},
		{in: "10.0.0.0/33", bad: true},
		{in: "1.2.3.4/x", bad: true},
		{in: "a b", bad: true},
		{in: "host:80", bad: true},
		{in: "...", bad: true},
	}
	for _, tt := range tests {
		r, isHost, err := ParseRule(tt.in)
		if tt.bad {
			if err == nil || !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseRule(%q) = %v, want ErrSyntax", tt.in, err)
			}
			continue
		}
		if err != nil || isHost != tt.isHost {
			t.Errorf("ParseRule(%q) = host %v, %v; want host %v", tt.in, isHost, err, tt.isHost)
			continue
		}
		for _, s := range tt.match {
			if !r.Match(netip.MustParseAddr(s)) {
				t.Errorf("rule %q does not match %s", tt.in, s)
			}
		}
		for _, s := range tt.miss {
			if r.Match(netip.MustParseAddr(s)) {
				t.Errorf("rule %q matches %s", tt.in, s)
			}
		}
	}
}

// The documented decision: deny wins over allow; allow rules admit only
// what they match.
func TestListCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		allow, deny []string
		ip          string
		ok          bool
		reason      string
	}{
		{ip: "127.0.0.1", ok: true},
		{allow: []string{"127.0.0.1"}, deny: []string{"127.0.0.0/8"}, ip: "127.0.0.1", ok: false, reason: "deny 127.0.0.0/8"},
		{allow: []string{"127.0.0.1"}, deny: []string{"127.0.0.0/8"}, ip: "127.0.0.2", ok: false, reason: "deny 127.0.0.0/8"},
		{allow: []string{"127.0.0.1"}, ip: "127.0.0.1", ok: true, reason: "allow 127.0.0.1"},
		{allow: []string{"127.0.0.1"}, ip: "127.0.0.2", ok: false, reason: "not in the allow list"},
		{deny: []string{"127.0.0.2"}, ip: "127.0.0.1", ok: true},
		{deny: []string{"127.0.0.2"}, ip: "127.0.0.2", ok: false, reason: "deny 127.0.0.2"},
	}
	for _, tt := range tests {
		l, err := Build(ctx, nil, tt.allow, tt.deny, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := l.Check(netip.MustParseAddr(tt.ip))
		if d.Allowed != tt.ok || d.Reason != tt.reason {
			t.Errorf("allow %v deny %v: Check(%s) = %+v, want %v %q", tt.allow, tt.deny, tt.ip, d, tt.ok, tt.reason)
		}
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestResolveHostRules(t *testing.T) {
	res := fakeResolver{"db": {netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}}
	r, err := Resolve(context.Background(), res, "db")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Match(netip.MustParseAddr("10.0.0.5")) || !r.Match(netip.MustParseAddr("fd00::5")) || r.Match(netip.MustParseAddr("10.0.0.6")) {
		t.Errorf("rule db = %+v", r)
	}
	if _, err := Resolve(context.Background(), res, "nowhere"); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("Resolve(nowhere) = %v", err)
	}
}

func TestReadList(t *testing.T) {
	in := "# office\n10.0.0.0/8   # LAN\n\n  127.0.0.1\n#::1\nlocalhost\n"
	got, err := ReadList(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "127.0.0.1", "localhost"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ReadList = %q, want %q", got, want)
	}
}

func TestParseDestRule(t *testing.T) {
	tests := []struct {
		in    string
		match []string
		miss  []string
		bad   bool
	}{
		{in: "127.0.0.1", match: []string{"127.0.0.1:1", "127.0.0.1:65535"}, miss: []string{"127.0.0.2:80"}},
		{in: "10.0.0.0/8:443", match: []string{"10.1.1.1:443"}, miss: []string{"10.1.1.1:80", "11.0.0.1:443"}},
		{in: "*:8000-9000", match: []string{"1.2.3.4:8000", "[::1]:9000"}, miss: []string{"1.2.3.4:7999", "1.2.3.4:9001"}},
		{in: "[::1]:80", match: []string{"[::1]:80"}, miss: []string{"[::1]:81"}},
		{in: "[fd00::/8]:443", match: []string{"[fd01::1]:443"}},
		{in: "::1", match: []string{"[::1]:22"}},
		{in: "*", match: []string{"8.8.8.8:53"}},
		{in: "", bad: true},
		{in: "*:", bad: true},
		{in: "*:9-8", bad: true},
		{in: "*:70000", bad: true},
		{in: "example.com:80", bad: true},
		{in: "[::1", bad: true},
		{in: "[::1]80", bad: true},
	}
	for _, tt := range tests {
		r, err := ParseDestRule(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseDestRule(%q) = %+v, %v; want ErrSyntax", tt.in, r, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDestRule(%q): %v", tt.in, err)
			continue
		}
		for _, s := range tt.match {
			ap := netip.MustParseAddrPort(s)
			if !r.Match(ap.Addr(), ap.Port()) {
				t.Errorf("dest rule %q does not match %s", tt.in, s)
			}
		}
		for _, s := range tt.miss {
			ap := netip.MustParseAddrPort(s)
			if r.Match(ap.Addr(), ap.Port()) {
				t.Errorf("dest rule %q matches %s", tt.in, s)
			}
		}
	}
}

func TestConnCounter(t *testing.T) {
	c := NewConnCounter(2)
	ip := netip.MustParseAddr("127.0.0.1")
	if !c.Acquire(ip) || !c.Acquire(ip) || c.Acquire(ip) {
		t.Fatal("want two admitted, the third refused")
	}
	if !c.Acquire(netip.MustParseAddr("127.0.0.2")) {
		t.Fatal("another source is refused")
	}
	c.Release(ip)
	if !c.Acquire(ip) {
		t.Fatal("refused after a release")
	}
	c.Release(ip)
	c.Release(ip)
	c.Release(netip.MustParseAddr("127.0.0.2"))
	if len(c.n) != 0 {
		t.Fatalf("counter remembers %d idle sources", len(c.n))
	}
}

func TestRateLimiterRefillsAndForgets(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewRateLimiter(2, 0) // 2/s, burst 2
	l.now = func() time.Time { return now }
	ip := netip.MustParseAddr("10.0.0.1")
	if !l.Allow(ip) || !l.Allow(ip) || l.Allow(ip) {
		t.Fatal("want a burst of two, then refusal")
	}
	now = now.Add(500 * time.Millisecond)
	if !l.Allow(ip) || l.Allow(ip) {
		t.Fatal("want one token after half a second")
	}
	// Many sources, then quiet: their full buckets are swept.
	for i := range 1000 {
		l.Allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
	}
	if l.Sources() < 1000 {
		t.Fatalf("remembers %d sources, want >= 1000", l.Sources())
	}
	now = now.Add(10 * time.Second)
	l.Allow(netip.MustParseAddr("10.9.9.9"))
	if n := l.Sources(); n != 1 {
		t.Fatalf("after a quiet spell remembers %d sources, want 1", n)
	}
}

func TestRateLimiterBoundsMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewRateLimiter(1, 1)
	l.now = func() time.Time { return now }
	l.maxSources = 100
	for i := range 500 {
		l.Allow(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}))
	}
	if n := l.Sources(); n > 100 {
		t.Fatalf("remembers %d sources, cap 100", n)
	}
}

// FuzzParseRule checks that the rule parser never panics and that an
// accepted address or network rule matches its own first address.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.0.0.0/8", "::1", "[::1]", "fd00::/8", "localhost", "", "1.2.3.4/99", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, isHost, err := ParseRule(s)
		if err != nil || isHost {
			return
		}
		if len(r.Prefixes) != 1 {
			t.Fatalf("ParseRule(%q) gave %d prefixes", s, len(r.Prefixes))
		}
		if !r.Match(r.Prefixes[0].Addr()) {
			t.Fatalf("rule %q does not match its own address %s", s, r.Prefixes[0].Addr())
		}
		ReadList(strings.NewReader(s))
	})
}

// FuzzParseDestRule checks that the destination rule parser never panics and
// keeps its port range ordered.
func FuzzParseDestRule(f *testing.F) {
	for _, s := range []string{"*:80", "10.0.0.0/8:443", "[::1]:1-2", "127.0.0.1", "[", "*:9-8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseDestRule(s)
		if err != nil {
			return
		}
		if r.Lo > r.Hi {
			t.Fatalf("ParseDestRule(%q): range %d-%d", s, r.Lo, r.Hi)
		}
	})
}
