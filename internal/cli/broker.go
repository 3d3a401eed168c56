package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"sockit/broker"
	"sockit/broker/cluster"
	"sockit/metrics"
	"sockit/metrics/prom"
	"sockit/middleware"
	"sockit/server"
)

type brokerOptions struct {
	listen         listenFlags
	chat           bool
	clientQueue    int
	clientSndbuf   int
	cluster        string
	clusterListen  string
	clusterSubject string
	clusterName    string
	metricsAddr    string
}

func newBrokerCmd(env *Env) *cobra.Command {
	var o brokerOptions
	cmd := &cobra.Command{
		Use:   "broker [ADDRESS]",
		Short: "Relay every client's bytes to all other clients (ncat --broker, --chat)",
		Long: `Broker listens on ADDRESS (default :12345) and sends everything a client
sends to every other client, as ncat --broker does; --chat adds ncat's chat
mode: "<userN> " before each line, join and leave notices, control
characters shown as \ooo.

Each client has a queue of --client-queue messages; a client that stops
reading until its queue is full is dropped ("slow-consumer") and the others
carry on.

--cluster joins the broker to a NATS subject so the clients of every sockit
instance form one broker; --cluster-listen starts an embedded NATS server
for the first instance (or a single box), which the others point --cluster
at. In chat mode every instance numbers its own users, so clustered chat
names carry the instance: "<user1@NAME>", NAME being --cluster-name (by
default the host name and the broker's port). --metrics serves Prometheus
metrics over HTTP.`,
		Example: `  sockit broker :4000
  sockit broker :4000 --chat
  sockit broker tls://:4443 --tls-cert c.pem --tls-key k.pem
  sockit broker :4000 --cluster-listen :4222          # first instance
  sockit broker :4000 --cluster nats://host-a:4222    # the others
  sockit broker :4000 --metrics 127.0.0.1:9100`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			return runBroker(cmd.Context(), env, &o, arg)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.chat, "chat", false, "ncat's chat mode: <userN> prefixes, join and leave notices")
	fs.IntVar(&o.clientQueue, "client-queue", broker.DefaultClientQueue, "messages queued per client before it is dropped as a slow consumer")
	fs.IntVar(&o.clientSndbuf, "client-sndbuf", 0, "kernel send buffer per client in bytes (0: the system's autotuning)")
	fs.StringVar(&o.cluster, "cluster", "", "join the clients of other instances through NATS: nats://HOST:4222[,...]")
	fs.StringVar(&o.clusterListen, "cluster-listen", "", "start an embedded NATS server on HOST:PORT and join through it")
	fs.StringVar(&o.clusterSubject, "cluster-subject", cluster.DefaultSubject, "the NATS subject the instances share")
	fs.StringVar(&o.clusterName, "cluster-name", "", "this instance's name in clustered chat names, <userN@NAME> (default HOSTNAME:PORT)")
	fs.StringVar(&o.metricsAddr, "metrics", "", "serve Prometheus metrics on http://ADDR/metrics")
	o.listen.register(fs)
	return cmd
}

func runBroker(ctx context.Context, env *Env, o *brokerOptions, arg string) error {
	if o.clientQueue < 1 {
		return usagef("--client-queue: want at least 1, got %d", o.clientQueue)
	}
	if o.clientSndbuf < 0 {
		return usagef("--client-sndbuf: want 0 or more bytes, got %d", o.clientSndbuf)
	}
	if o.cluster != "" && o.clusterListen != "" {
		return usagef("--cluster and --cluster-listen cannot be combined: the embedded NATS server does not join other servers")
	}
	var urls []string
	if o.cluster != "" {
		var err error
		if urls, err = cluster.ParseURLs(o.cluster); err != nil {
			return err
		}
	}
	if o.clusterListen != "" {
		if _, _, err := net.SplitHostPort(o.clusterListen); err != nil {
			return fmt.Errorf("--cluster-listen %q: want HOST:PORT or :PORT", o.clusterListen)
		}
	}
	if o.clusterName != "" {
		if o.cluster == "" && o.clusterListen == "" {
			return usagef("--cluster-name needs --cluster or --cluster-listen")
		}
		if err := checkInstanceName(o.clusterName); err != nil {
			return usagef("--cluster-name %q: %w", o.clusterName, err)
		}
	}
	a, err := parseAddr(arg, ":12345")
	if err != nil {
		return err
	}
	if a.Network() == "" {
		return usagef("broker: cannot listen on %s", a)
	}

	var sink metrics.Broker = metrics.Nop{}
	if o.metricsAddr != "" {
		stop, b, err := serveMetrics(env, o.metricsAddr)
		if err != nil {
			return err
		}
		defer stop()
		sink = b
	}

	cfg := broker.Config{Chat: o.chat, ClientQueue: o.clientQueue, SendBuffer: o.clientSndbuf, IdleTimeout: o.listen.idleTimeout, Metrics: sink, Logger: env.Logger}
	var link *cluster.Link
	if o.clusterListen != "" {
		ns, err := cluster.Listen(o.clusterListen, env.Logger)
		if err != nil {
			return err
		}
		defer ns.Close()
		env.Logger.Info("NATS listening on " + ns.Addr().String())
		urls = []string{ns.URL()}
	}
	if len(urls) > 0 {
		link, err = cluster.Dial(ctx, cluster.Config{URLs: urls, Subject: o.clusterSubject, Metrics: sink, Logger: env.Logger})
		if err != nil {
			return err
		}
		defer link.Close()
		cfg.Relay = link
	}
	ln, mw, err := o.listen.listen(ctx, env, a)
	if err != nil {
		return err
	}
	if link != nil && o.chat {
		cfg.Instance = o.clusterName
		if cfg.Instance == "" {
			cfg.Instance = defaultInstanceName(ln.Addr())
		}
	}
	hub := broker.New(cfg)
	if link != nil {
		if err := link.Attach(hub); err != nil {
			ln.Close()
			return err
		}
	}
	env.Logger.Info("listening on " + ln.Addr().String())
	srv := &server.Server{
		Handler:  server.Chain(hub, append(mw, middleware.LogConnections(env.Logger))...),
		Logger:   env.Logger,
		MaxConns: o.listen.maxConns,
	}
	// Broker clients never leave on their own: on a signal, drop them at
	// once so the shutdown does not wait out the grace period.
	stop := context.AfterFunc(ctx, func() { hub.Close() })
	defer stop()
	return serveUntilSignal(ctx, env, srv, ln, o.listen.grace)
}

// serveMetrics serves Prometheus metrics on address until stop is called.
func serveMetrics(env *Env, address string) (stop func(), b *prom.Broker, err error) {
	reg := prom.NewRegistry()
	if b, err = prom.NewBroker(reg); err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", prom.Handler(reg))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			env.Logger.Warn("metrics server stopped", "err", err)
		}
	}()
	env.Logger.Info("metrics on http://" + ln.Addr().String() + "/metrics")
	return func() { hs.Close() }, b, nil
}

// checkInstanceName accepts 1 to 64 printable ASCII characters other than
// spaces and angle brackets: the name goes inside "<userN@NAME>".
func checkInstanceName(name string) error {
	if len(name) > 64 {
		return fmt.Errorf("%d bytes (at most 64)", len(name))
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == '<' || r == '>' {
			return fmt.Errorf("character %q (want printable ASCII without spaces or angle brackets)", r)
		}
	}
	return nil
}

// defaultInstanceName names a clustered chat instance after its host and
// the port it listens on (its process ID when it has no port).
func defaultInstanceName(a net.Addr) string {
	host, err := os.Hostname()
	if err != nil || checkInstanceName(host) != nil {
		host = "sockit"
	}
	if _, port, err := net.SplitHostPort(a.String()); err == nil && a.Network() != "unix" {
		return host + ":" + port
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}
