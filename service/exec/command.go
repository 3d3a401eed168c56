// Package exec runs a program for a connection: the connection becomes the
// child's standard input and output, as inetd, "ncat --exec" and socat's
// EXEC: do. It serves as a service (Handler, one child per connection) and as
// a dialed endpoint (Start, Dialer) for relays whose target is a program.
//
// The child's environment carries the connection's addresses under sockit's
// names (SOCKIT_REMOTE_ADDR, SOCKIT_REMOTE_PORT, SOCKIT_LOCAL_ADDR,
// SOCKIT_LOCAL_PORT, SOCKIT_PROTO) and ncat's (NCAT_REMOTE_ADDR, ...,
// NCAT_PROTO), so scripts written for either work; over TLS, SOCKIT_TLS_*
// describe the session and a verified client certificate. Its exit status is
// logged; a child still running Grace after its standard input was closed is
// killed, with its process group.
package exec

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"sockit/addr"
)

// Command is a program and its arguments, run without a shell.
type Command struct {
	// Argv is the program (looked up in PATH when it has no slash) and its
	// arguments.
	Argv []string
}

// Shell is the shell sh: commands run through.
const Shell = "/bin/sh"

// ShellCommand returns the Command that runs line through /bin/sh -c.
func ShellCommand(line string) Command { return Command{Argv: []string{Shell, "-c", line}} }

// ParseCommand splits line into a program and arguments (see Split).
func ParseCommand(line string) (Command, error) {
	argv, err := Split(line)
	if err != nil {
		return Command{}, err
	}
	if len(argv) == 0 {
		return Command{}, errors.New("exec: no program given")
	}
	return Command{Argv: argv}, nil
}

// FromAddr returns the Command an exec: or sh: address names.
func FromAddr(a addr.Addr) (Command, error) {
	switch a.Scheme {
	case addr.Exec:
		c, err := ParseCommand(a.Command)
		if err != nil {
			return Command{}, fmt.Errorf("%s: %w", a, err)
		}
		return c, nil
	case addr.Shell:
		return ShellCommand(a.Command), nil
	}
	return Command{}, fmt.Errorf("%s is not a command address", a)
}

// String returns the command line, quoted where needed.
func (c Command) String() string {
	q := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		if a == "" || strings.ContainsAny(a, " \t\n\r'\"\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Split splits a command line into words the way a POSIX shell would without
// expanding anything: words are separated by blanks; single quotes keep
// everything literally; double quotes keep everything but a backslash before
// " \ $ or `; a backslash outside quotes keeps the next character. An
// unterminated quote or a trailing backslash is an error.
//
// It is written here rather than taken from a library because the rules are
// a dozen lines and the common library (google/shlex) also treats '#' as a
// comment, which a program argument must not be.
func Split(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(line[i])
			in = true
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			in = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, errors.New("unterminated double quote")
			}
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// Environ returns the variables that describe a connection to its child:
// sockit's SOCKIT_* names and ncat's NCAT_* names for the remote and local
// address and port and the protocol. Addresses without a port (Unix sockets)
// give the path as the address and no port variable; nil addresses give
// nothing.
func Environ(local, remote net.Addr) []string {
	var env []string
	add := func(which string, a net.Addr) {
		if a == nil {
			return
		}
		host, port := splitAddr(a)
		env = append(env, "SOCKIT_"+which+"_ADDR="+host, "NCAT_"+which+"_ADDR="+host)
		if port != "" {
			env = append(env, "SOCKIT_"+which+"_PORT="+port, "NCAT_"+which+"_PORT="+port)
		}
	}
	add("REMOTE", remote)
	add("LOCAL", local)
	proto := ""
	if local != nil {
		proto = local.Network()
	} else if remote != nil {
		proto = remote.Network()
	}
	if proto != "" {
		env = append(env, "SOCKIT_PROTO="+proto, "NCAT_PROTO="+ncatProto(proto))
	}
	return env
}

func splitAddr(a net.Addr) (host, port string) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String(), strconv.Itoa(a.Port)
	case *net.UDPAddr:
		return a.IP.String(), strconv.Itoa(a.Port)
	case *net.UnixAddr:
		return a.Name, ""
	}
	s := a.String()
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h, p
	}
	return s, ""
}

// ncatProto names a network the way ncat's NCAT_PROTO does.
func ncatProto(network string) string {
	switch {
	case strings.HasPrefix(network, "tcp"):
		return "TCP"
	case strings.HasPrefix(network, "udp"):
		return "UDP"
	}
	return strings.ToUpper(network)
}

// TLSEnviron returns the variables that describe a TLS connection to its
// child: SOCKIT_TLS_VERSION (e.g. "TLS 1.3"), SOCKIT_TLS_SERVER_NAME (the SNI
// the client sent), SOCKIT_TLS_ALPN and, with mutual TLS, the verified
// client certificate's SOCKIT_TLS_CLIENT_SUBJECT and SOCKIT_TLS_CLIENT_CN.
// Empty values are left out.
func TLSEnviron(st tls.ConnectionState) []string {
	env := []string{"SOCKIT_TLS_VERSION=" + tls.VersionName(st.Version)}
	if st.ServerName != "" {
		env = append(env, "SOCKIT_TLS_SERVER_NAME="+st.ServerName)
	}
	if st.NegotiatedProtocol != "" {
		env = append(env, "SOCKIT_TLS_ALPN="+st.NegotiatedProtocol)
	}
	if len(st.VerifiedChains) > 0 && len(st.VerifiedChains[0]) > 0 {
		c := st.VerifiedChains[0][0]
		env = append(env, "SOCKIT_TLS_CLIENT_SUBJECT="+c.Subject.String())
		if c.Subject.CommonName != "" {
			env = append(env, "SOCKIT_TLS_CLIENT_CN="+c.Subject.CommonName)
		}
	}
	return env
}
