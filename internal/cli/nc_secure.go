package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"sockit/access"
	"sockit/broker"
	"sockit/endpoint/via"
	"sockit/internal/ncat"
	"sockit/middleware"
	"sockit/service/exec"
	"sockit/service/proxyserver"
	"sockit/tlsconf"
)

// secure plugs the library's services and secure layer into cfg: exec,
// broker and chat, the HTTP proxy server, access rules, TLS and the proxy
// client. Nothing here speaks a protocol itself.
func (o *ncOptions) secure(cmd *cobra.Command, env *Env, cfg *ncat.Config) error {
	ctx := cmd.Context()
	if o.ssl.on && (strings.HasPrefix(cfg.Network, "udp") || cfg.Network == "unixgram") {
		return ncat.Usagef("--ssl over datagrams (DTLS) is not supported by sockit nc.")
	}
	if err := o.services(env, cfg); err != nil {
		return err
	}
	if cfg.Listen {
		if o.proxy != "" {
			return ncat.Usagef("Invalid option combination: --proxy and -l (use -l --proxy-type http for a proxy server).")
		}
		if len(o.allow)+len(o.deny)+len(o.allowFiles)+len(o.denyFiles) > 0 {
			list, err := access.Build(ctx, net.DefaultResolver, o.allow, o.deny, o.allowFiles, o.denyFiles)
			if err != nil {
				return ncat.Usagef("%v.", err)
			}
			cfg.Middleware = append(cfg.Middleware, middleware.Allow(list))
		}
		if o.ssl.on {
			tcfg, err := o.serverTLS(env, cfg)
			if err != nil {
				return err
			}
			cfg.Middleware = append(cfg.Middleware, tlsconf.Handshake(tcfg, 0, env.Logger))
		}
		cfg.Middleware = append(cfg.Middleware, exec.AttachPeer)
		return nil
	}
	if len(o.allow)+len(o.deny)+len(o.allowFiles)+len(o.denyFiles) > 0 {
		return ncat.Usagef("--allow, --allowfile, --deny and --denyfile work in listen mode only.")
	}
	if o.ssl.on {
		tcfg, err := o.clientTLS(cfg)
		if err != nil {
			return err
		}
		cfg.ClientTLS = func(ctx context.Context, conn net.Conn) (net.Conn, error) {
			return tlsconf.Client(ctx, conn, tcfg)
		}
	}
	if o.proxy != "" {
		return o.proxyClient(cfg)
	}
	if o.proxyType != "" {
		return ncat.Usagef("--proxy-type needs --proxy (or -l for a proxy server).")
	}
	return nil
}

// services chooses what serves each connection instead of the standard
// streams: a program, the broker, chat, or the HTTP proxy server.
func (o *ncOptions) services(env *Env, cfg *ncat.Config) error {
	n := 0
	for _, on := range []bool{o.exec != "", o.shExec != "", o.broker, cfg.Listen && o.proxyType != ""} {
		if on {
			n++
		}
	}
	if n > 1 {
		return ncat.Usagef("Only one of --exec, --sh-exec, --broker/--chat and -l --proxy-type may be given.")
	}
	switch {
	case o.exec != "":
		cmd, err := exec.ParseCommand(o.exec)
		if err != nil {
			return ncat.Usagef("--exec: %v.", err)
		}
		cfg.Handler = exec.Handler{Command: cmd, Config: exec.Config{Stderr: env.Stderr, Logger: env.Logger}, IdleTimeout: cfg.IdleTimeout}
	case o.shExec != "":
		cmd := exec.ShellCommand(o.shExec)
		cfg.Handler = exec.Handler{Command: cmd, Config: exec.Config{Stderr: env.Stderr, Logger: env.Logger}, IdleTimeout: cfg.IdleTimeout}
	case o.broker:
		// ncat names chat users after their descriptors: the lowest free one
		// after standard input, output, error and its listening sockets.
		cfg.Handler = broker.New(broker.Config{Chat: o.chat, FirstUser: 3 + cfg.ListenSockets(), Logger: env.Logger})
	case cfg.Listen && o.proxyType != "":
		if o.proxyType != "http" {
			return ncat.Usagef("Invalid proxy type %q: only http is served in listen mode.", o.proxyType)
		}
		h := &proxyserver.HTTPConnect{Config: proxyserver.Config{IdleTimeout: cfg.IdleTimeout}}
		if o.proxyAuth != "" {
			user, pass, ok := strings.Cut(o.proxyAuth, ":")
			if !ok {
				return ncat.Usagef("Invalid --proxy-auth: expected USER:PASSWORD.")
			}
			h.Auth = proxyserver.StaticAuth(user, pass)
		}
		cfg.Handler = h
	}
	return nil
}

// serverTLS is --ssl in listen mode: --ssl-cert and --ssl-key, or a
// temporary self-signed certificate as ncat generates.
func (o *ncOptions) serverTLS(env *Env, cfg *ncat.Config) (*tls.Config, error) {
	var src tlsconf.CertificateSource
	if o.ssl.cert == "" && o.ssl.key == "" {
		cert, err := tlsconf.SelfSigned()
		if err != nil {
			return nil, ncat.Usagef("Failed to generate a certificate: %v.", err)
		}
		if cfg.Verbose > 0 {
			fmt.Fprintln(env.Stderr, "Ncat: Generating a temporary ECDSA P-256 key. Use --ssl-key and --ssl-cert to use a permanent one.")
			fmt.Fprintln(env.Stderr, "Ncat: SHA-256 fingerprint: "+tlsconf.Fingerprint(cert.Certificate[0]))
		}
		src = tlsconf.Static{Cert: cert}
	} else {
		if o.ssl.cert == "" || o.ssl.key == "" {
			return nil, ncat.Usagef("The --ssl-key and --ssl-cert options must be used together.")
		}
		cert, err := tlsconf.LoadKeyPair(o.ssl.cert, o.ssl.key)
		if err != nil {
			return nil, ncat.Usagef("%v.", err)
		}
		src = tlsconf.Static{Cert: cert}
	}
	o.noteCiphers(env)
	tcfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{Certificates: src, ALPN: splitList(o.ssl.alpn)})
	if err != nil {
		return nil, ncat.Usagef("%v.", err)
	}
	return tcfg, nil
}

// clientTLS is --ssl in connect mode. Like ncat, it does not verify the
// server unless --ssl-verify or --ssl-trustfile is given.
func (o *ncOptions) clientTLS(cfg *ncat.Config) (*tls.Config, error) {
	name := o.ssl.serverName
	if name == "" {
		host, _, _ := net.SplitHostPort(cfg.Address)
		name = host
	}
	opts := tlsconf.ClientOptions{
		ServerName: name,
		Insecure:   !o.ssl.verify && o.ssl.trustFile == "",
		ALPN:       splitList(o.ssl.alpn),
	}
	if o.ssl.trustFile != "" {
		opts.TrustFiles = []string{o.ssl.trustFile}
	}
	tcfg, err := tlsconf.ClientConfig(opts)
	if err != nil {
		return nil, ncat.Usagef("%v.", err)
	}
	return tcfg, nil
}

// noteCiphers says that --ssl-ciphers is not applied: Go's crypto/tls picks
// from its own safe suites and takes no OpenSSL cipher list.
func (o *ncOptions) noteCiphers(env *Env) {
	if o.ssl.ciphers != "" {
		fmt.Fprintln(env.Stderr, "Ncat: --ssl-ciphers ignored: Go's TLS chooses among its own secure cipher suites.")
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// proxyClient routes the connection through --proxy with the endpoint/via
// package's SOCKS4, SOCKS5 and HTTP CONNECT clients.
func (o *ncOptions) proxyClient(cfg *ncat.Config) error {
	if strings.HasPrefix(cfg.Network, "udp") || strings.HasPrefix(cfg.Network, "unix") {
		return ncat.Usagef("Proxies work over TCP only.")
	}
	kind := o.proxyType
	if kind == "" {
		kind = "http"
	}
	defPort := "1080"
	switch kind {
	case "http":
		defPort = "3128"
	case "socks4", "socks5":
	default:
		return ncat.Usagef("Invalid proxy type %q.", kind)
	}
	proxyAddr := o.proxy
	if _, _, err := net.SplitHostPort(proxyAddr); err != nil {
		proxyAddr = net.JoinHostPort(strings.Trim(proxyAddr, "[]"), defPort)
	}
	p := via.Proxy{Kind: kind, Addr: proxyAddr}
	if o.proxyAuth != "" {
		p.HasAuth = true
		p.User, p.Password, _ = strings.Cut(o.proxyAuth, ":")
	}
	dnsMode := o.proxyDNS
	switch dnsMode {
	case "local", "remote", "both", "none":
	default:
		return ncat.Usagef("Invalid proxy DNS type %q.", dnsMode)
	}
	if kind == "socks4" && dnsMode != "local" && dnsMode != "none" {
		p.Kind = via.SOCKS4a // SOCKS4 itself cannot carry a name
	}
	base := &net.Dialer{}
	cfg.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		target, err := proxyTarget(ctx, dnsMode, address)
		if err != nil {
			return nil, err
		}
		return via.Dial(ctx, base, []via.Proxy{p}, target)
	}
	return nil
}

// proxyTarget resolves the destination where --proxy-dns says: locally
// (local, both) or not at all, leaving it to the proxy (remote, both).
func proxyTarget(ctx context.Context, mode, address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil || net.ParseIP(host) != nil || mode == "remote" {
		return address, err
	}
	if mode == "none" {
		return "", fmt.Errorf("--proxy-dns none: %q is not an IP address", host)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		if mode == "both" {
			return address, nil
		}
		if err == nil {
			err = fmt.Errorf("no address for %s", host)
		}
		return "", err
	}
	return net.JoinHostPort(ips[0].Unmap().String(), port), nil
}
