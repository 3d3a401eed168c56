package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"sockit/internal/ncat"
)

// ncatVersion is the ncat release whose options and messages "sockit nc"
// follows.
const ncatVersion = "7.93"

// ncPrefix is the word before every ncat message.
func ncPrefix() string { return "Ncat" }

// ncOptions are ncat's options, parsed getopt-style by pflag.
type ncOptions struct {
	ipv4, ipv6, unix, udp       bool
	sctp, vsock                 bool
	listen, keepOpen            bool
	crlf, telnet, zero, noDNS   bool
	sendOnly, recvOnly          bool
	noShutdown, appendOutput    bool
	broker, chat, help, version bool
	verbose, maxConns           int
	exec, shExec, luaExec       string
	delay, idle, wait           ncatTime
	output, hexDump             string
	sourcePort, source          string
	looseRoute, loosePointer    string
	allow, deny                 []string
	allowFiles, denyFiles       []string
	proxy                       string
	proxyType, proxyAuth        string
	proxyDNS                    string
	ssl                         ncSSL
}

// ncSSL are the --ssl options.
type ncSSL struct {
	on, verify                bool
	cert, key, trustFile      string
	ciphers, serverName, alpn string
}

func (o *ncOptions) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.ipv4, "ipv4", "4", false, "Use IPv4 only")
	fs.BoolVarP(&o.ipv6, "ipv6", "6", false, "Use IPv6 only")
	fs.BoolVarP(&o.unix, "unixsock", "U", false, "Use Unix domain sockets only")
	fs.BoolVar(&o.vsock, "vsock", false, "Use vsock sockets only (not supported)")
	fs.BoolVarP(&o.crlf, "crlf", "C", false, "Use CRLF for EOL sequence")
	fs.StringVarP(&o.shExec, "sh-exec", "c", "", "Executes the given command via /bin/sh")
	fs.StringVarP(&o.exec, "exec", "e", "", "Executes the given command")
	fs.StringVar(&o.luaExec, "lua-exec", "", "Executes the given Lua script (not supported)")
	fs.StringVarP(&o.looseRoute, "g", "g", "", "Loose source routing hop points (not supported)")
	fs.StringVarP(&o.loosePointer, "G", "G", "", "Loose source routing hop pointer (not supported)")
	fs.IntVarP(&o.maxConns, "max-conns", "m", 0, "Maximum <n> simultaneous connections")
	fs.BoolVarP(&o.help, "help", "h", false, "Display this help screen")
	fs.VarP(&o.delay, "delay", "d", "Wait between read/writes")
	fs.StringVarP(&o.output, "output", "o", "", "Dump session data to a file")
	fs.StringVarP(&o.hexDump, "hex-dump", "x", "", "Dump session data as hex to a file")
	fs.VarP(&o.idle, "idle-timeout", "i", "Idle read/write timeout")
	fs.StringVarP(&o.sourcePort, "source-port", "p", "", "Specify source port to use")
	fs.StringVarP(&o.source, "source", "s", "", "Specify source address to use (doesn't affect -l)")
	fs.BoolVarP(&o.listen, "listen", "l", false, "Bind and listen for incoming connections")
	fs.BoolVarP(&o.keepOpen, "keep-open", "k", false, "Accept multiple connections in listen mode")
	fs.BoolVarP(&o.noDNS, "nodns", "n", false, "Do not resolve hostnames via DNS")
	fs.BoolVarP(&o.telnet, "telnet", "t", false, "Answer Telnet negotiations")
	fs.BoolVarP(&o.udp, "udp", "u", false, "Use UDP instead of default TCP")
	fs.BoolVar(&o.sctp, "sctp", false, "Use SCTP instead of default TCP (not supported)")
	fs.CountVarP(&o.verbose, "verbose", "v", "Set verbosity level (can be used several times)")
	fs.VarP(&o.wait, "wait", "w", "Connect timeout")
	fs.BoolVarP(&o.zero, "zero", "z", false, "Zero-I/O mode, report connection status only")
	fs.BoolVar(&o.appendOutput, "append-output", false, "Append rather than clobber specified output files")
	fs.BoolVar(&o.sendOnly, "send-only", false, "Only send data, ignoring received; quit on EOF")
	fs.BoolVar(&o.recvOnly, "recv-only", false, "Only receive data, never send anything")
	fs.BoolVar(&o.noShutdown, "no-shutdown", false, "Continue half-duplex when receiving EOF on stdin")
	fs.StringSliceVar(&o.allow, "allow", nil, "Allow only given hosts to connect to Ncat")
	fs.StringArrayVar(&o.allowFiles, "allowfile", nil, "A file of hosts allowed to connect to Ncat")
	fs.StringSliceVar(&o.deny, "deny", nil, "Deny given hosts from connecting to Ncat")
	fs.StringArrayVar(&o.denyFiles, "denyfile", nil, "A file of hosts denied from connecting to Ncat")
	fs.BoolVar(&o.broker, "broker", false, "Enable Ncat's connection brokering mode")
	fs.BoolVar(&o.chat, "chat", false, "Start a simple Ncat chat server")
	fs.StringVar(&o.proxy, "proxy", "", "Specify address of host to proxy through")
	fs.StringVar(&o.proxyType, "proxy-type", "", `Specify proxy type ("http", "socks4", "socks5")`)
	fs.StringVar(&o.proxyAuth, "proxy-auth", "", "Authenticate with HTTP or SOCKS proxy server")
	fs.StringVar(&o.proxyDNS, "proxy-dns", "remote", "Specify where to resolve proxy destination")
	fs.BoolVar(&o.ssl.on, "ssl", false, "Connect or listen with SSL")
	fs.StringVar(&o.ssl.cert, "ssl-cert", "", "Specify SSL certificate file (PEM) for listening")
	fs.StringVar(&o.ssl.key, "ssl-key", "", "Specify SSL private key (PEM) for listening")
	fs.BoolVar(&o.ssl.verify, "ssl-verify", false, "Verify trust and domain name of certificates")
	fs.StringVar(&o.ssl.trustFile, "ssl-trustfile", "", "PEM file containing trusted SSL certificates")
	fs.StringVar(&o.ssl.ciphers, "ssl-ciphers", "", "Cipherlist containing SSL ciphers to use (ignored)")
	fs.StringVar(&o.ssl.serverName, "ssl-servername", "", "Request distinct server name (SNI)")
	fs.StringVar(&o.ssl.alpn, "ssl-alpn", "", "ALPN protocol list to use")
	fs.BoolVar(&o.version, "version", false, "Display Ncat's version information and exit")
	fs.MarkHidden("g") // accepted only to say they are not supported
	fs.MarkHidden("G")
}

// ncatTime is an ncat time argument: a number of seconds, or a number with
// ms, s, m or h after it.
type ncatTime struct{ d time.Duration }

func (t *ncatTime) String() string {
	if t.d == 0 {
		return ""
	}
	return t.d.String()
}

func (t *ncatTime) Type() string { return "time" }

func (t *ncatTime) Set(s string) error {
	d, err := parseNcatTime(s)
	if err != nil {
		return err
	}
	t.d = d
	return nil
}

// parseNcatTime parses ncat's time syntax; the result must be positive.
func parseNcatTime(s string) (time.Duration, error) {
	num, unit := s, time.Second
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSuffix(s, u.suffix), u.d
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*float64(unit) >= float64(2147483*time.Second) || num != strings.TrimSpace(num) {
		return 0, errors.New("must be greater than 0 and less than 2147483s")
	}
	return time.Duration(f * float64(unit)), nil
}

func newNcCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "nc [OPTIONS] [HOST] [PORT]",
		Short: "The ncat-compatible front end (also run as 'nc' or 'ncat')",
		Long: `nc speaks Nmap ncat's command line: connect, listen (-l, -k), UDP (-u), Unix
sockets (-U), exec (-e, -c), broker and chat, access rules, TLS (--ssl) and
proxies (--proxy). 'sockit nc --help' lists ncat's options; docs/ncat.md
lists the differences.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNc(cmd, env, args)
		},
	}
}

// ncFail turns an error into the exit status and "Ncat: ..." line.
func ncFail(code int, err error) error {
	return exitError{code: code, err: err, prefix: ncPrefix}
}

func runNc(cmd *cobra.Command, env *Env, args []string) error {
	var o ncOptions
	fs := pflag.NewFlagSet("ncat", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return ncFail(ExitUsage, fmt.Errorf("%s\nNcat: Try `--help' or man(1) ncat for more information, usage options and help. QUITTING.", ncFlagError(err)))
	}
	if o.help {
		fmt.Fprint(env.Stdout, ncHelp(fs))
		return nil
	}
	if o.version {
		fmt.Fprintf(env.Stderr, "Ncat: Version %s ( https://nmap.org/ncat ) [sockit %s]\n", ncatVersion, Version)
		return nil
	}
	switch {
	case o.verbose >= 3:
		env.level.Set(slog.LevelDebug)
	case o.verbose == 2:
		env.level.Set(slog.LevelInfo)
	default:
		env.level.Set(slog.LevelWarn)
	}
	cfg, closeFiles, err := o.plan(cmd, env, fs.Args())
	if err != nil {
		return ncExit(err)
	}
	defer closeFiles()
	return ncExit(ncat.Run(cmd.Context(), cfg))
}

// ncExit maps the engine's errors onto the command's exit.
func ncExit(err error) error {
	if err == nil {
		return nil
	}
	var ee *ncat.ExitError
	if errors.As(err, &ee) {
		return ncFail(ee.Code, ee.Err)
	}
	return ncFail(ExitUsage, err)
}

// ncFlagError words pflag's errors as getopt does.
func ncFlagError(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "invalid argument "); ok {
		return "Invalid argument " + rest
	}
	return msg
}

// plan checks the options and turns them into the engine's Config. The
// returned function closes the output files.
func (o *ncOptions) plan(cmd *cobra.Command, env *Env, args []string) (*ncat.Config, func(), error) {
	nothing := func() {}
	switch {
	case o.sctp:
		return nil, nothing, ncat.Usagef("SCTP is not supported by sockit nc (Go has no SCTP sockets).")
	case o.vsock:
		return nil, nothing, ncat.Usagef("vsock is not supported by sockit nc.")
	case o.luaExec != "":
		return nil, nothing, ncat.Usagef("--lua-exec is not supported by sockit nc (no Lua interpreter); use --exec or --sh-exec.")
	case o.looseRoute != "" || o.loosePointer != "":
		return nil, nothing, ncat.Usagef("Loose source routing (-g, -G) is not supported by sockit nc.")
	case o.ipv4 && o.ipv6:
		return nil, nothing, ncat.Usagef("Cannot use -4 and -6 together.")
	case o.sendOnly && o.recvOnly:
		return nil, nothing, ncat.Usagef("Cannot use --send-only and --recv-only together.")
	case o.exec != "" && o.shExec != "":
		return nil, nothing, ncat.Usagef("Only one of --exec, --sh-exec, and --lua-exec is allowed.")
	case o.maxConns < 0:
		return nil, nothing, ncat.Usagef("Invalid maximum number of connections.")
	}
	if o.chat {
		o.broker = true
	}
	if o.broker && !o.listen {
		opt := map[bool]string{true: "--chat", false: "--broker"}[o.chat]
		return nil, nothing, ncat.Usagef("Invalid option combination: `%s' with connect.", opt)
	}
	if o.broker {
		o.keepOpen = true
	}
	if !o.listen {
		switch {
		case o.keepOpen:
			return nil, nothing, ncat.Usagef("Invalid option combination: `--keep-open' with connect.")
		case o.maxConns > 0:
			return nil, nothing, ncat.Usagef("Invalid option combination: `--max-conns' with connect.")
		case len(o.allow)+len(o.deny)+len(o.allowFiles)+len(o.denyFiles) > 0:
			return nil, nothing, ncat.Usagef("Invalid option combination: allow/deny with connect.")
		case o.proxyType != "" && o.proxy == "":
			return nil, nothing, ncat.Usagef("Proxy type (--proxy-type) specified without proxy address (--proxy).")
		}
	}
	cfg := &ncat.Config{
		Listen:         o.listen,
		KeepOpen:       o.keepOpen,
		MaxConns:       o.maxConns,
		ConnectTimeout: o.wait.d,
		IdleTimeout:    o.idle.d,
		Delay:          o.delay.d,
		CRLF:           o.crlf,
		Telnet:         o.telnet,
		SendOnly:       o.sendOnly,
		RecvOnly:       o.recvOnly,
		NoShutdown:     o.noShutdown,
		ZeroIO:         o.zero,
		Verbose:        o.verbose,
		Version:        ncatVersion,
		Stdin:          env.Stdin,
		Stdout:         env.Stdout,
		Stderr:         env.Stderr,
		Logger:         env.Logger,
	}
	if err := o.address(cfg, args); err != nil {
		return nil, nothing, err
	}
	closeFiles, err := o.openOutputs(cfg)
	if err != nil {
		return nil, nothing, err
	}
	if err := o.secure(cmd, env, cfg); err != nil {
		closeFiles()
		return nil, nothing, err
	}
	return cfg, closeFiles, nil
}

// address works out the network and address from -4 -6 -U -u, -l, -s, -p
// and the HOST and PORT arguments, as ncat does.
func (o *ncOptions) address(cfg *ncat.Config, args []string) error {
	switch {
	case o.unix && o.udp:
		cfg.Network = "unixgram"
	case o.unix:
		cfg.Network = "unix"
	case o.udp:
		cfg.Network = "udp"
	default:
		cfg.Network = "tcp"
	}
	if !o.unix {
		if o.ipv4 {
			cfg.Network += "4"
		} else if o.ipv6 {
			cfg.Network += "6"
		}
	}
	if o.unix {
		if len(args) != 1 {
			return ncat.Usagef("You have to specify path to a socket to %s.", map[bool]string{true: "listen on", false: "connect to"}[o.listen])
		}
		cfg.Address = args[0]
		return nil
	}
	host, port := "", "31337"
	if o.listen {
		switch len(args) {
		case 0:
		case 1:
			if _, err := strconv.Atoi(args[0]); err == nil {
				port = args[0]
			} else {
				host = args[0]
			}
		case 2:
			host, port = args[0], args[1]
		default:
			return ncat.Usagef("Got more than two arguments.")
		}
		if o.sourcePort != "" {
			port = o.sourcePort
		}
		if host == "" && o.source != "" {
			host = o.source
		}
		switch {
		case host == "" && o.ipv4:
			host = "0.0.0.0"
		case host == "" && o.ipv6:
			host = "::"
		}
	} else {
		switch len(args) {
		case 0:
			return ncat.Usagef("You must specify a host to connect to.")
		case 1:
			host = args[0]
		case 2:
			host, port = args[0], args[1]
		default:
			return ncat.Usagef("Got more than two arguments.")
		}
		if o.source != "" || o.sourcePort != "" {
			cfg.LocalAddr = net.JoinHostPort(o.source, o.sourcePort)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return ncat.Usagef("Invalid port number %q.", port)
	}
	if o.noDNS && host != "" && net.ParseIP(strings.Trim(host, "[]")) == nil && o.proxy == "" {
		return ncat.Usagef("Could not resolve hostname %q: Name or service not known.", host)
	}
	cfg.Address = net.JoinHostPort(strings.Trim(host, "[]"), port)
	return nil
}

// openOutputs opens the -o and -x files.
func (o *ncOptions) openOutputs(cfg *ncat.Config) (func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if o.appendOutput {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	open := func(name string) (*os.File, error) {
		f, err := os.OpenFile(name, flags, 0o666)
		if err != nil {
			closeAll()
			return nil, ncat.Usagef("Unable to open output file %s: %v.", name, errors.Unwrap(err))
		}
		files = append(files, f)
		return f, nil
	}
	if o.output != "" {
		f, err := open(o.output)
		if err != nil {
			return nil, err
		}
		cfg.Output = f
	}
	if o.hexDump != "" {
		f, err := open(o.hexDump)
		if err != nil {
			return nil, err
		}
		cfg.HexDump = f
	}
	return closeAll, nil
}
