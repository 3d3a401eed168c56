// Package addr parses and prints sockit's one address syntax, shared by every
// command and by the library.
//
// The forms are:
//
//	HOST:PORT, :PORT                  TCP (IPv4 and IPv6)
//	tcp://HOST:PORT, tcp4://, tcp6://  TCP, optionally pinned to one family
//	udp://HOST:PORT, udp4://, udp6://  UDP
//	tls://HOST:PORT, tls4://, tls6://  TLS over TCP
//	unix:///abs/path, unix://rel/path  Unix stream socket (unix://@name is abstract)
//	unixgram:///path                   Unix datagram socket
//	-, stdio                           standard input and output
//	exec:PROGRAM ARGS...               a child process, run without a shell
//	sh:COMMAND                         a child process, run through /bin/sh
//
// IPv6 literals go in brackets ([::1]:80). HOST may be a name, resolved when
// the address is used. PORT is a number from 0 to 65535 or a service name.
// Parse and String round-trip: Parse(a.String()) returns a again.
package addr

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Scheme names the kind of endpoint an address refers to.
type Scheme string

// The schemes sockit understands.
const (
	TCP      Scheme = "tcp"
	TCP4     Scheme = "tcp4"
	TCP6     Scheme = "tcp6"
	UDP      Scheme = "udp"
	UDP4     Scheme = "udp4"
	UDP6     Scheme = "udp6"
	TLS      Scheme = "tls"
	TLS4     Scheme = "tls4"
	TLS6     Scheme = "tls6"
	Unix     Scheme = "unix"
	Unixgram Scheme = "unixgram"
	Stdio    Scheme = "stdio"
	Exec     Scheme = "exec"
	Shell    Scheme = "sh"
)

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("bad address")

// Addr is a parsed endpoint address. The zero value is not a valid address.
type Addr struct {
	// Scheme is the kind of endpoint.
	Scheme Scheme
	// Host is the host name or IP literal (without brackets) of a network
	// address; empty means every interface when listening.
	Host string
	// Port is the port number or service name of a network address.
	Port string
	// Path is the socket file of a Unix address; a leading '@' names an
	// abstract socket.
	Path string
	// Command is the program and arguments of an exec address or the shell
	// command of a sh address.
	Command string
}

// Parse parses s in sockit's address syntax. The error names the bad part.
func Parse(s string) (Addr, error) {
	if s == "" {
		return Addr{}, fmt.Errorf("%w: empty address", ErrSyntax)
	}
	if s == "-" || s == "stdio" || s == "stdio:" || s == "stdio://" {
		return Addr{Scheme: Stdio}, nil
	}
	if rest, ok := strings.CutPrefix(s, "exec:"); ok {
		if strings.TrimSpace(rest) == "" {
			return Addr{}, fmt.Errorf("%w %q: exec: needs a program", ErrSyntax, s)
		}
		return Addr{Scheme: Exec, Command: rest}, nil
	}
	if rest, ok := strings.CutPrefix(s, "sh:"); ok {
		if strings.TrimSpace(rest) == "" {
			return Addr{}, fmt.Errorf("%w %q: sh: needs a command", ErrSyntax, s)
		}
		return Addr{Scheme: Shell, Command: rest}, nil
	}
	scheme, rest, hasScheme := strings.Cut(s, "://")
	if !hasScheme {
		// unix:/path and unixgram:/path, as socat writes them.
		for _, sc := range []Scheme{Unixgram, Unix} {
			if p, ok := strings.CutPrefix(s, string(sc)+":"); ok {
				return parsePath(s, sc, p)
			}
		}
		a, err := parseHostPort(s, TCP, s)
		return a, err
	}
	sc := Scheme(strings.ToLower(scheme))
	switch sc {
	case TCP, TCP4, TCP6, UDP, UDP4, UDP6, TLS, TLS4, TLS6:
		return parseHostPort(s, sc, rest)
	case Unix, Unixgram:
		return parsePath(s, sc, rest)
	case Stdio:
		if rest != "" {
			return Addr{}, fmt.Errorf("%w %q: stdio takes nothing after the scheme", ErrSyntax, s)
		}
		return Addr{Scheme: Stdio}, nil
	}
	return Addr{}, fmt.Errorf("%w %q: unknown scheme %q", ErrSyntax, s, scheme)
}

func parsePath(s string, sc Scheme, p string) (Addr, error) {
	if p == "" || p == "@" {
		return Addr{}, fmt.Errorf("%w %q: %s needs a socket path", ErrSyntax, s, sc)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return Addr{}, fmt.Errorf("%w %q: NUL byte in socket path", ErrSyntax, s)
	}
	return Addr{Scheme: sc, Path: p}, nil
}

func parseHostPort(s string, sc Scheme, hp string) (Addr, error) {
	if strings.ContainsAny(hp, "/?#") {
		return Addr{}, fmt.Errorf("%w %q: unexpected path after host:port", ErrSyntax, s)
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return Addr{}, fmt.Errorf("%w %q: %s (want HOST:PORT)", ErrSyntax, s, ae.Err)
		}
		return Addr{}, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	if err := checkHost(host); err != nil {
		return Addr{}, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	if err := checkPort(port); err != nil {
		return Addr{}, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	return Addr{Scheme: sc, Host: host, Port: port}, nil
}

func checkHost(h string) error {
	if h == "" {
		return nil
	}
	if strings.Contains(h, ":") {
		// Only an IPv6 literal may contain a colon; a zone is allowed.
		ip, _, _ := strings.Cut(h, "%")
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("bad IPv6 literal %q", h)
		}
		return nil
	}
	if len(h) > 253 {
		return fmt.Errorf("host name too long")
	}
	for _, r := range h {
		ok := r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return fmt.Errorf("bad character %q in host %q", r, h)
		}
	}
	return nil
}

func checkPort(p string) error {
	if p == "" {
		return fmt.Errorf("missing port")
	}
	if p[0] >= '0' && p[0] <= '9' {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n > 65535 {
			return fmt.Errorf("bad port %q (want 0 to 65535)", p)
		}
		return nil
	}
	for _, r := range p {
		ok := r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return fmt.Errorf("bad port %q", p)
		}
	}
	return nil
}

// String returns the canonical form of a: scheme://host:port for network
// addresses, scheme://path for Unix sockets, "-" for stdio and
// exec:/sh: for commands.
func (a Addr) String() string {
	switch a.Scheme {
	case Stdio:
		return "-"
	case Exec, Shell:
		return string(a.Scheme) + ":" + a.Command
	case Unix, Unixgram:
		return string(a.Scheme) + "://" + a.Path
	}
	return string(a.Scheme) + "://" + net.JoinHostPort(a.Host, a.Port)
}

// HostPort returns HOST:PORT with IPv6 literals bracketed, the form the net
// package dials and listens on.
func (a Addr) HostPort() string { return net.JoinHostPort(a.Host, a.Port) }

// Network returns the name the net package uses for a's transport: "tcp",
// "tcp4", "udp6", "unix", "unixgram" and so on. TLS addresses report their
// TCP network. Stdio and command addresses report "".
func (a Addr) Network() string {
	switch a.Scheme {
	case TLS:
		return "tcp"
	case TLS4:
		return "tcp4"
	case TLS6:
		return "tcp6"
	case Stdio, Exec, Shell:
		return ""
	}
	return string(a.Scheme)
}

// IsDatagram reports whether a is a connectionless (message) endpoint.
func (a Addr) IsDatagram() bool {
	switch a.Scheme {
	case UDP, UDP4, UDP6, Unixgram:
		return true
	}
	return false
}

// IsTLS reports whether a names a TLS endpoint.
func (a Addr) IsTLS() bool {
	return a.Scheme == TLS || a.Scheme == TLS4 || a.Scheme == TLS6
}

// Transport returns the TCP address a TLS address runs over (tls4:// over
// tcp4://, and so on); any other address is returned as it is.
func (a Addr) Transport() Addr {
	switch a.Scheme {
	case TLS:
		a.Scheme = TCP
	case TLS4:
		a.Scheme = TCP4
	case TLS6:
		a.Scheme = TCP6
	}
	return a
}
