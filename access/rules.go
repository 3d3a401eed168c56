// Package access decides which clients may connect: allow and deny lists of
// addresses, networks and host names, per-source connection counts and
// per-source rates of new connections.
//
// It knows nothing of servers or command lines, so every front end (sockit's
// --allow/--deny, the ncat-compatible --allow/--allowfile/--deny/--denyfile)
// shares one rule syntax and one decision. package middleware turns these
// into server.Middleware.
//
// The decision follows ncat: a source matched by any deny rule is refused,
// whatever the allow rules say; when there are allow rules, a source that
// matches none of them is refused too. So "--allow 127.0.0.1 --deny
// 127.0.0.0/8" refuses 127.0.0.1 (deny wins) and everyone else; to admit one
// host of a network, allow only that host.
package access

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ErrSyntax is wrapped by every error that reports a malformed rule.
var ErrSyntax = errors.New("bad access rule")

// Rule is one allow or deny entry: an IP address, a CIDR network, or a host
// name resolved once to the addresses it had then.
type Rule struct {
	// Text is the rule as written, used in logs.
	Text string
	// Prefixes are the networks the rule matches; a single address is a
	// full-length prefix.
	Prefixes []netip.Prefix
}

// Match reports whether ip falls in one of r's networks. IPv4-mapped IPv6
// addresses match IPv4 rules.
func (r Rule) Match(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range r.Prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// String returns the rule as written.
func (r Rule) String() string { return r.Text }

// ParseRule parses an IP address ("127.0.0.1", "::1") or a CIDR network
// ("10.0.0.0/8"). Anything else is a host name, which ParseRule reports with
// isHost true and an empty rule, for Resolve to look up.
func ParseRule(s string) (r Rule, isHost bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Rule{}, false, fmt.Errorf("%w: empty rule", ErrSyntax)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Rule{}, false, fmt.Errorf("%w %q: not a CIDR network", ErrSyntax, s)
		}
		return Rule{Text: s, Prefixes: []netip.Prefix{p.Masked()}}, false, nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		ip = ip.Unmap().WithZone("")
		return Rule{Text: s, Prefixes: []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}}, false, nil
	}
	if !validHostname(s) {
		return Rule{}, false, fmt.Errorf("%w %q: not an address, network or host name", ErrSyntax, s)
	}
	return Rule{}, true, nil
}

// validHostname accepts letters, digits, '-', '_' and dots, as DNS names and
// /etc/hosts entries are written.
func validHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return strings.Trim(s, ".") != ""
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Resolve parses s like ParseRule and looks a host name up with res
// (net.DefaultResolver when nil), once: the rule keeps the addresses the name
// had at that moment.
func Resolve(ctx context.Context, res Resolver, s string) (Rule, error) {
	r, isHost, err := ParseRule(s)
	if err != nil || !isHost {
		return r, err
	}
	if res == nil {
		res = net.DefaultResolver
	}
	host := strings.TrimSpace(s)
	ips, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return Rule{}, fmt.Errorf("access rule %q: %w", host, err)
	}
	r = Rule{Text: host}
	for _, ip := range ips {
		ip = ip.Unmap().WithZone("")
		r.Prefixes = append(r.Prefixes, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return r, nil
}

// ReadList returns the entries of a rule file: one per line, blank lines and
// everything after '#' ignored.
func ReadList(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadListFile is ReadList on the named file.
func ReadListFile(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, err := ReadList(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return list, nil
}

// List is a set of allow and deny rules. The zero value admits everyone.
type List struct {
	Allow []Rule
	Deny  []Rule
}

// Empty reports whether l has no rules at all.
func (l *List) Empty() bool { return len(l.Allow) == 0 && len(l.Deny) == 0 }

// Decision is the outcome of checking a source against a List.
type Decision struct {
	// Allowed is true when the source may connect.
	Allowed bool
	// Reason names the rule that decided, as "deny 127.0.0.0/8" or "allow
	// 127.0.0.1"; "not in the allow list" when allow rules exist and none
	// matched; empty when the list is empty.
	Reason string
}

// Check decides whether ip may connect: any matching deny rule refuses;
// otherwise, if there are allow rules, only a matching one admits.
func (l *List) Check(ip netip.Addr) Decision {
	for _, r := range l.Deny {
		if r.Match(ip) {
			return Decision{Allowed: false, Reason: "deny " + r.Text}
		}
	}
	if len(l.Allow) == 0 {
		return Decision{Allowed: true}
	}
	for _, r := range l.Allow {
		if r.Match(ip) {
			return Decision{Allowed: true, Reason: "allow " + r.Text}
		}
	}
	return Decision{Allowed: false, Reason: "not in the allow list"}
}

// Build resolves the rules of a command line: allow and deny entries given
// directly and those read from allow and deny files.
func Build(ctx context.Context, res Resolver, allow, deny, allowFiles, denyFiles []string) (*List, error) {
	l := new(List)
	add := func(dst *[]Rule, entries []string) error {
		for _, e := range entries {
			r, err := Resolve(ctx, res, e)
			if err != nil {
				return err
			}
			*dst = append(*dst, r)
		}
		return nil
	}
	for _, f := range allowFiles {
		entries, err := ReadListFile(f)
		if err != nil {
			return nil, err
		}
		allow = append(allow[:len(allow):len(allow)], entries...)
	}
	for _, f := range denyFiles {
		entries, err := ReadListFile(f)
		if err != nil {
			return nil, err
		}
		deny = append(deny[:len(deny):len(deny)], entries...)
	}
	if err := add(&l.Allow, allow); err != nil {
		return nil, err
	}
	if err := add(&l.Deny, deny); err != nil {
		return nil, err
	}
	return l, nil
}

// SourceIP returns the IP address of a connection's remote address, if it
// has one (Unix sockets do not).
func SourceIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case nil:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
