package access

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DestRule is one --allow-dest entry: a network and a port range that proxy
// clients may reach. Written NET, NET:PORTS or *:PORTS, where NET is an IP
// address or CIDR network (IPv6 in brackets when a port follows: [::1]:80,
// [fd00::/8]:443) or * for any, and PORTS is N or N-M.
type DestRule struct {
	// Text is the rule as written.
	Text string
	// Prefix is the network; the zero Prefix means any address.
	Prefix netip.Prefix
	// Lo and Hi bound the ports, inclusive; 0-65535 when none were given.
	Lo, Hi uint16
}

// ParseDestRule parses one destination rule.
func ParseDestRule(s string) (DestRule, error) {
	s = strings.TrimSpace(s)
	r := DestRule{Text: s, Lo: 0, Hi: 65535}
	if s == "" {
		return DestRule{}, fmt.Errorf("%w: empty destination rule", ErrSyntax)
	}
	netPart, portPart := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return DestRule{}, fmt.Errorf("%w %q: missing ']'", ErrSyntax, s)
		}
		netPart = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok || p == "" {
				return DestRule{}, fmt.Errorf("%w %q: want [NET]:PORTS", ErrSyntax, s)
			}
			portPart = p
		}
	case strings.Count(s, ":") == 1:
		netPart, portPart, _ = strings.Cut(s, ":")
		if portPart == "" {
			return DestRule{}, fmt.Errorf("%w %q: empty port", ErrSyntax, s)
		}
	}
	if netPart != "*" {
		var err error
		if strings.Contains(netPart, "/") {
			r.Prefix, err = netip.ParsePrefix(netPart)
			r.Prefix = r.Prefix.Masked()
		} else {
			var ip netip.Addr
			ip, err = netip.ParseAddr(netPart)
			if err == nil {
				ip = ip.Unmap().WithZone("")
				r.Prefix = netip.PrefixFrom(ip, ip.BitLen())
			}
		}
		if err != nil {
			return DestRule{}, fmt.Errorf("%w %q: %q is not an address, network or *", ErrSyntax, s, netPart)
		}
	}
	if portPart != "" {
		lo, hi, isRange := strings.Cut(portPart, "-")
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h := l
		var err2 error
		if isRange {
			h, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || h < l {
			return DestRule{}, fmt.Errorf("%w %q: bad port range %q", ErrSyntax, s, portPart)
		}
		r.Lo, r.Hi = uint16(l), uint16(h)
	}
	return r, nil
}

// Match reports whether the rule admits ip:port.
func (r DestRule) Match(ip netip.Addr, port uint16) bool {
	if port < r.Lo || port > r.Hi {
		return false
	}
	return !r.Prefix.IsValid() || r.Prefix.Contains(ip.Unmap())
}

// DestList is the set of destinations a proxy server lets clients reach. A
// nil or empty list admits every destination.
type DestList []DestRule

// ParseDestList parses each rule of a command line.
func ParseDestList(rules []string) (DestList, error) {
	var l DestList
	for _, s := range rules {
		r, err := ParseDestRule(s)
		if err != nil {
			return nil, err
		}
		l = append(l, r)
	}
	return l, nil
}

// Check decides whether ip:port may be reached; rule names the admitting
// rule, or says none did.
func (l DestList) Check(ip netip.Addr, port uint16) (ok bool, rule string) {
	if len(l) == 0 {
		return true, ""
	}
	for _, r := range l {
		if r.Match(ip, port) {
			return true, "allow-dest " + r.Text
		}
	}
	return false, "no --allow-dest rule matches"
}
