package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"sockit/addr"
	"sockit/endpoint"
	"sockit/server"
	execsvc "sockit/service/exec"
	"sockit/tlsconf"
)

// tlsListenFlags are the TLS options of listeners. A tls:// address listens
// on TCP and runs a TLS handshake on each connection, after the access rules
// and PROXY protocol (which read the raw connection) and before the service.
type tlsListenFlags struct {
	certFile, keyFile string
	clientCA          string
	alpn              []string
	minVersion        string
	handshakeTimeout  time.Duration

	cfg *tls.Config // set by listen when the address is a TLS one
}

func (f *tlsListenFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.certFile, "tls-cert", "", "tls:// listener: PEM certificate chain (reloaded on SIGHUP; default: a self-signed one)")
	fs.StringVar(&f.keyFile, "tls-key", "", "tls:// listener: PEM private key of --tls-cert (default: in the --tls-cert file)")
	fs.StringVar(&f.clientCA, "tls-client-ca", "", "tls:// listener: require client certificates signed by a CA in this PEM file (mutual TLS; reloaded on SIGHUP)")
	fs.StringSliceVar(&f.alpn, "tls-alpn", nil, "tls:// listener: application protocols to offer (ALPN), e.g. h2,http/1.1")
	fs.StringVar(&f.minVersion, "tls-min-version", "1.2", "lowest TLS version accepted: 1.2 or 1.3")
	fs.DurationVar(&f.handshakeTimeout, "tls-handshake-timeout", tlsconf.DefaultHandshakeTimeout, "tls:// listener: drop clients that have not finished the TLS handshake by then")
}

// listen opens a's listener. For a TLS address it listens on TCP and
// prepares the server configuration that middleware applies; SIGHUP then
// reloads --tls-cert, --tls-key and --tls-client-ca until ctx ends.
func (f *tlsListenFlags) listen(ctx context.Context, env *Env, ep *endpoint.Config, a addr.Addr) (net.Listener, error) {
	if !a.IsTLS() {
		if f.certFile != "" || f.keyFile != "" || f.clientCA != "" {
			return nil, usagef("--tls-cert, --tls-key and --tls-client-ca need a tls:// address to listen on, not %s", a)
		}
		return ep.Listen(ctx, a)
	}
	minV, err := tlsconf.ParseVersion(f.minVersion)
	if err != nil {
		return nil, usagef("--tls-min-version: %w", err)
	}
	src, certs, err := f.certificates(env, a)
	if err != nil {
		return nil, err
	}
	var cas *tlsconf.CAPool
	if f.clientCA != "" {
		if cas, err = tlsconf.NewCAPool(f.clientCA); err != nil {
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
	}
	cfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{
		Certificates: src, ClientCAs: cas, ALPN: f.alpn, MinVersion: minV,
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", a, err)
	}
	ln, err := ep.Listen(ctx, a.Transport())
	if err != nil {
		return nil, renameAddr(err, a.Transport(), a)
	}
	watchReload(ctx, env, certs, cas)
	f.cfg = cfg
	return ln, nil
}

// certificates returns the listener's certificate source: the files, with
// the Reloader that SIGHUP uses, or a fresh self-signed certificate whose
// fingerprint is logged (and no Reloader).
func (f *tlsListenFlags) certificates(env *Env, a addr.Addr) (tlsconf.CertificateSource, *tlsconf.Reloader, error) {
	if f.certFile == "" && f.keyFile == "" {
		cert, err := tlsconf.SelfSigned(a.Host)
		if err != nil {
			return nil, nil, fmt.Errorf("listen %s: %w", a, err)
		}
		env.Logger.Info("generated a temporary self-signed ECDSA certificate; use --tls-cert and --tls-key for a permanent one")
		env.Logger.Info("SHA-256 fingerprint: " + tlsconf.Fingerprint(cert.Certificate[0]))
		return tlsconf.Static{Cert: cert}, nil, nil
	}
	r, err := tlsconf.NewReloader(f.certFile, f.keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", a, err)
	}
	return r, r, nil
}

// watchReload reloads the certificate files (r) and the client CA file
// (cas) on every SIGHUP until ctx ends; either may be nil. A failed reload
// keeps what is in use. With nothing to reload (a self-signed certificate)
// SIGHUP is logged and ignored rather than ending the server.
func watchReload(ctx context.Context, env *Env, r *tlsconf.Reloader, cas *tlsconf.CAPool) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if r == nil && cas == nil {
				env.Logger.Info("SIGHUP: nothing to reload (self-signed certificate)")
				continue
			}
			if r != nil {
				if err := r.Reload(); err != nil {
					env.Logger.Error("SIGHUP: keeping the old certificate", "err", err)
				} else {
					env.Logger.Info("SIGHUP: reloaded the certificate", "sha256", tlsconf.Fingerprint(r.Certificate().Certificate[0]))
				}
			}
			if cas != nil {
				if err := cas.Reload(); err != nil {
					env.Logger.Error("SIGHUP: keeping the old client CAs", "err", err)
				} else {
					env.Logger.Info("SIGHUP: reloaded the client CAs")
				}
			}
		}
	}()
}

// middleware returns the TLS handshake when the listener is a TLS one, then
// the step that lets an exec: relay target see the client's addresses.
func (f *tlsListenFlags) middleware(env *Env) []server.Middleware {
	var mw []server.Middleware
	if f.cfg != nil {
		mw = append(mw, tlsconf.Handshake(f.cfg, f.handshakeTimeout, env.Logger))
	}
	return append(mw, execsvc.AttachPeer)
}

// renameAddr makes an error about the TCP address under a TLS address name
// the address the user gave, keeping the error chain for errors.Is.
func renameAddr(err error, transport, a addr.Addr) error {
	if err == nil || transport == a {
		return err
	}
	return &renamedError{msg: strings.Replace(err.Error(), transport.String(), a.String(), 1), err: err}
}

type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }

// tlsDialFlags are the TLS options of dialers. In relay, where the listener
// has its own --tls-cert, --tls-key, --tls-alpn and --tls-min-version, the
// dialer's are spelled --to-tls-cert and so on.
type tlsDialFlags struct {
	trust      []string
	insecure   bool
	serverName string
	alpn       []string
	certFile   string
	keyFile    string
	minVersion string
	grace      *pflag.Flag // relay's --grace, for exec: targets; nil elsewhere

	once sync.Once
	cfg  *tls.Config
	err  error
}

func (f *tlsDialFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.trust, "tls-trust", nil, "tls:// target: also trust the CA or self-signed certificates in this PEM file (repeatable)")
	fs.BoolVar(&f.insecure, "insecure", false, "tls:// target: do not verify the server's certificate (warns)")
	fs.StringVar(&f.serverName, "tls-server-name", "", "tls:// target: name sent as SNI and verified (default: the host dialed)")
	f.grace = fs.Lookup("grace")
	p := ""
	if fs.Lookup("tls-cert") != nil {
		p = "to-" // relay: the listener has the plain names
	}
	fs.StringSliceVar(&f.alpn, p+"tls-alpn", nil, "tls:// target: application protocols to offer (ALPN)")
	fs.StringVar(&f.certFile, p+"tls-cert", "", "tls:// target: client certificate for mutual TLS (PEM)")
	fs.StringVar(&f.keyFile, p+"tls-key", "", "tls:// target: private key of the client certificate (default: in the certificate file)")
	if fs.Lookup("tls-min-version") == nil {
		fs.StringVar(&f.minVersion, "tls-min-version", "1.2", "lowest TLS version accepted: 1.2 or 1.3")
	} else {
		fs.StringVar(&f.minVersion, "to-tls-min-version", "1.2", "tls:// target: lowest TLS version accepted: 1.2 or 1.3")
	}
}

// transport returns the address to open under a: its TCP address when a is
// TLS, once the TLS options have been checked, so that a bad option fails
// before any connection is made. TLS client options with another kind of
// address are a usage error.
func (f *tlsDialFlags) transport(env *Env, a addr.Addr) (addr.Addr, error) {
	if a.IsTLS() {
		if _, err := f.config(env, a); err != nil {
			return a, err
		}
		return a.Transport(), nil
	}
	if len(f.trust) > 0 || f.insecure || f.serverName != "" || f.certFile != "" {
		return a, usagef("TLS client options need a tls:// address to connect to, not %s", a)
	}
	return a, nil
}

// config builds the client configuration once per command.
func (f *tlsDialFlags) config(env *Env, a addr.Addr) (*tls.Config, error) {
	f.once.Do(func() {
		minV, err := tlsconf.ParseVersion(f.minVersion)
		if err != nil {
			f.err = usagef("--tls-min-version: %w", err)
			return
		}
		name := f.serverName
		if name == "" {
			name = a.Host
		}
		if name == "" {
			name = "localhost"
		}
		f.cfg, f.err = tlsconf.ClientConfig(tlsconf.ClientOptions{
			ServerName: name, TrustFiles: f.trust, Insecure: f.insecure,
			CertFile: f.certFile, KeyFile: f.keyFile, ALPN: f.alpn, MinVersion: minV,
		})
		if f.err != nil {
			f.err = fmt.Errorf("connect %s: %w", a, f.err)
		}
		if f.insecure {
			env.Logger.Warn("--insecure: the server's certificate is not verified; anyone in the path can read and change the traffic")
		}
	})
	return f.cfg, f.err
}

// wrap runs the TLS client handshake over conn when a is a TLS address.
func (f *tlsDialFlags) wrap(ctx context.Context, env *Env, a addr.Addr, conn net.Conn) (net.Conn, error) {
	if !a.IsTLS() {
		return conn, nil
	}
	cfg, err := f.config(env, a)
	if err != nil {
		conn.Close()
		return nil, err
	}
	tc, err := tlsconf.Client(ctx, conn, cfg)
	if err != nil {
		var ve *tlsconf.VerifyError
		if errors.As(err, &ve) && ve.Reason == tlsconf.UnknownAuthority {
			err = fmt.Errorf("%w (trust it with --tls-trust FILE)", err)
		}
		return nil, fmt.Errorf("connect %s: %w", a, err)
	}
	if env.Logger.Enabled(ctx, slog.LevelDebug) {
		st := tc.ConnectionState()
		env.Logger.Debug("tls handshake", "remote", conn.RemoteAddr().String(), "version", tls.VersionName(st.Version),
			"cipher", tls.CipherSuiteName(st.CipherSuite), "alpn", st.NegotiatedProtocol)
	}
	return tc, nil
}

// isCommand reports whether a names a program (exec: or sh:).
func isCommand(a addr.Addr) bool { return a.Scheme == addr.Exec || a.Scheme == addr.Shell }

// dialCommand starts the program a names. Within a served connection (see
// execsvc.AttachPeer) the child's environment names the client; in relay, a
// child still running --grace after its input closed is killed.
func (f *tlsDialFlags) dialCommand(ctx context.Context, env *Env, a addr.Addr) (net.Conn, error) {
	cmd, err := execsvc.FromAddr(a)
	if err != nil {
		return nil, usagef("%w", err)
	}
	cfg := execsvc.Config{Stderr: env.Stderr, Logger: env.Logger}
	if f.grace != nil {
		// relay registers its listener's --grace before the dial flags.
		cfg.Grace, _ = time.ParseDuration(f.grace.Value.String())
	}
	return execsvc.Dialer{Command: cmd, Config: cfg}.DialContext(ctx)
}

// execServiceFlags serve each connection with a program.
type execServiceFlags struct {
	exec   string
	shExec string
}

func (f *execServiceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.exec, "exec", "", `serve each connection with PROGRAM ARGS (no shell; quotes group words): the connection is its stdin/stdout, SOCKIT_REMOTE_ADDR etc. in its environment`)
	fs.StringVar(&f.shExec, "sh-exec", "", `like --exec, but run COMMAND through /bin/sh -c`)
}

// handler returns the exec service when --exec or --sh-exec was given. A
// child still running --grace after its input closed is killed.
func (f *execServiceFlags) handler(ctx context.Context, env *Env, listen *listenFlags) (server.Handler, error) {
	var cmd execsvc.Command
	switch {
	case f.exec != "" && f.shExec != "":
		return nil, usagef("--exec and --sh-exec cannot be combined")
	case f.exec != "":
		c, err := execsvc.ParseCommand(f.exec)
		if err != nil {
			return nil, usagef("--exec: %w", err)
		}
		cmd = c
	case f.shExec != "":
		cmd = execsvc.ShellCommand(f.shExec)
	default:
		return nil, nil
	}
	return execsvc.Handler{
		Command:     cmd,
		Config:      execsvc.Config{Grace: listen.grace, Stderr: env.Stderr, Logger: env.Logger},
		IdleTimeout: listen.idleTimeout,
	}, nil
}
