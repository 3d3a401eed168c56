package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"sockit/addr"
	"sockit/bench/loadgen"
	"sockit/internal/escape"
)

type benchOptions struct {
	connections int
	duration    time.Duration
	count       int64
	sourceIPs   int
	expect      string
	anyGreeting bool
	size        string
	timeout     time.Duration
	jsonOut     bool
	progress    string
	noVerify    bool
}

func newBenchCmd(env *Env) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench greet|echo|relay|idle ADDRESS",
		Short: "Load a server and measure it: rate, latency, errors",
		Long: `Bench loads a stream server at ADDRESS and checks every byte it gets back.

  greet  connect, read the greeting until the server closes, check it, close;
         the rate is connections per second
  echo   one connection per worker; send --size bytes, read them back, check;
         the rate is round trips per second
  relay  stream --size bytes (default 1GiB) through a relay to an echo
         server while reading them back, half-close, compare CRC-32C checksums
         and lengths; reports Gbit/s one way
  idle   open --connections connections, hold them for --duration, then
         check that each still echoes a byte

The load stops after --count operations or --duration, whichever comes first
(--duration 10s when neither is given). The report (or --json) goes to
stdout; on a terminal, stderr shows live progress. Latency percentiles come
from an HDR histogram. Errors are counted by kind: refused, reset, timeout,
addr-unavailable, too-many-files, early-eof, mismatch, overlong, other. The
exit status is 1 when any operation failed.

--source-ips N spreads connections over the source addresses 127.0.0.1 to
127.0.0.N, so that more connections than one ephemeral port range can be open
to a loopback server.`,
		Example: `  sockit bench greet 127.0.0.1:12345 -c 64 -d 10s
  sockit bench echo 127.0.0.1:7 -c 16 --size 1KiB --json
  sockit bench relay 127.0.0.1:8080 --size 2GiB
  sockit bench idle 127.0.0.1:7 -c 15000 -d 30s --source-ips 4`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("bench: want MODE and ADDRESS, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), env, &o, args[0], args[1])
		},
	}
	fs := cmd.Flags()
	fs.IntVarP(&o.connections, "connections", "c", 1, "concurrent connections (idle: connections to hold)")
	fs.DurationVarP(&o.duration, "duration", "d", 0, "stop after this long (idle: hold this long); 0 with no --count: 10s")
	fs.Int64VarP(&o.count, "count", "n", 0, "stop after this many operations (0: no limit)")
	fs.IntVar(&o.sourceIPs, "source-ips", 0, "spread connections over source addresses 127.0.0.1..127.0.0.N")
	fs.StringVar(&o.expect, "expect", loadgen.DefaultGreeting, `greet: the greeting to expect; C escapes \n \r \t \xHH`)
	fs.BoolVar(&o.anyGreeting, "any-greeting", false, "greet: accept any non-empty greeting")
	fs.StringVar(&o.size, "size", "", "echo: message size (default 64); relay: bytes per stream (default 1GiB)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "fail an operation after this long (relay: with no bytes back for this long)")
	fs.BoolVar(&o.jsonOut, "json", false, "write the result as JSON")
	fs.StringVar(&o.progress, "progress", "auto", "live progress on stderr: auto (on a terminal), always, never")
	fs.BoolVar(&o.noVerify, "no-verify", false, "idle: do not check that connections still echo at the end")
	return cmd
}

func (o *benchOptions) config(modeArg, addrArg string) (loadgen.Config, error) {
	mode, err := loadgen.ParseMode(modeArg)
	if err != nil {
		return loadgen.Config{}, usagef("bench: %w", err)
	}
	a, err := addr.Parse(addrArg)
	if err != nil {
		return loadgen.Config{}, err
	}
	network, address := a.Network(), a.HostPort()
	switch {
	case a.IsTLS():
		return loadgen.Config{}, usagef("bench: %s: TLS is not supported; want a TCP or Unix stream address", addrArg)
	case network == "unix":
		address = a.Path
	case network == "tcp" || network == "tcp4" || network == "tcp6":
	default:
		return loadgen.Config{}, usagef("bench: %s: want a TCP or Unix stream address", addrArg)
	}
	if o.connections < 1 {
		return loadgen.Config{}, usagef("bench: --connections must be at least 1")
	}
	if o.count < 0 || o.duration < 0 || o.timeout < 0 || o.sourceIPs < 0 {
		return loadgen.Config{}, usagef("bench: --count, --duration, --timeout and --source-ips cannot be negative")
	}
	cfg := loadgen.Config{
		Mode:        mode,
		Network:     network,
		Address:     address,
		Connections: o.connections,
		Duration:    o.duration,
		Count:       o.count,
		SourceIPs:   o.sourceIPs,
		Timeout:     o.timeout,
		SkipVerify:  o.noVerify,
	}
	if o.size != "" {
		n, err := loadgen.ParseSize(o.size)
		if err != nil {
			return loadgen.Config{}, usagef("bench: --size: %w", err)
		}
		if n == 0 {
			return loadgen.Config{}, usagef("bench: --size must be more than 0")
		}
		cfg.Size = n
	}
	if o.anyGreeting {
		cfg.Expect = []byte{}
	} else {
		msg, err := escape.Decode(o.expect)
		if err != nil {
			return loadgen.Config{}, usagef("bench: --expect: %w", err)
		}
		cfg.Expect = msg
	}
	return cfg, nil
}

func runBench(ctx context.Context, env *Env, o *benchOptions, modeArg, addrArg string) error {
	cfg, err := o.config(modeArg, addrArg)
	if err != nil {
		return err
	}
	var show bool
	switch o.progress {
	case "auto":
		f, ok := env.Stderr.(*os.File)
		show = ok && term.IsTerminal(int(f.Fd()))
	case "always":
		show = true
	case "never":
	default:
		return usagef("bench: --progress must be auto, always or never")
	}
	var p *progressLine
	if show {
		p = &progressLine{w: env.Stderr, mode: cfg.Mode}
		cfg.Progress = p.update
	}
	cfg.Holding = func(open int) {
		p.clear()
		env.Logger.Info(fmt.Sprintf("holding %d connections", open))
	}
	env.Logger.Debug("bench", "mode", cfg.Mode, "address", cfg.Address, "connections", cfg.Connections)
	res, err := loadgen.Run(ctx, cfg)
	p.clear()
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = res.WriteText(env.Stdout)
	}
	if err != nil {
		return fmt.Errorf("bench: write result: %w", err)
	}
	if res.Errors > 0 {
		return exitError{code: ExitError, err: fmt.Errorf("%d operations failed", res.Errors), prefix: func() string { return "sockit: bench" }}
	}
	return nil
}

// progressLine redraws one status line on a terminal with \r.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	mode  loadgen.Mode
	last  loadgen.Progress
	width int
}

func (p *progressLine) update(s loadgen.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate := 0.0
	if dt := (s.Elapsed - p.last.Elapsed).Seconds(); dt > 0 {
		rate = float64(s.Ops-p.last.Ops) / dt
	}
	p.last = s
	line := fmt.Sprintf("%6.1fs  %d ok  %.0f/s  %d errors  %d open", s.Elapsed.Seconds(), s.Ops, rate, s.Errors, s.Open)
	if p.mode == loadgen.Relay {
		line += fmt.Sprintf("  %s checked", loadgen.FormatSize(s.Bytes))
	}
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// clear erases the progress line so the next output starts on a clean line.
func (p *progressLine) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}
