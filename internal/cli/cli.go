// Package cli is sockit's command line: it turns argv into a plan and calls
// the library. Main is a plain function with its streams passed in, so the
// whole command is testable in-process and from testscript files.
//
// The command tree uses cobra: its pflag parser clusters short options the
// way getopt does (-lvkp 12345), which the ncat-compatible front end needs,
// and it gives help, "help CMD" and usage errors for free.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the work failed: port in use, unknown host, refused...
	ExitUsage = 2 // the command line was wrong
)

// Env is what a command runs with: its streams and logger.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
	level  *slog.LevelVar
}

// usageError marks an error in the command line itself (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Main runs sockit with args (without the program name) and returns the exit
// code. argv0 selects the ncat-compatible front end when the binary is
// invoked as "nc" or "ncat". Diagnostics go to stderr, data to stdout.
func Main(ctx context.Context, argv0 string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	level := new(slog.LevelVar)
	env := &Env{
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		Logger: slog.New(newLineHandler(stderr, level)),
		level:  level,
	}
	switch strings.TrimSuffix(filepath.Base(argv0), ".exe") {
	case "nc", "ncat":
		args = append([]string{"nc"}, args...)
	}
	root := newRoot(env)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", ee.prefix(), ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "sockit: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(stderr, "Run 'sockit --help' for usage.")
		return ExitUsage
	}
	return ExitError
}

// exitError lets a command choose its exit code and message prefix (the ncat
// front end prints "Ncat: ..." as ncat does).
type exitError struct {
	code   int
	err    error
	prefix func() string
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// isCobraUsage recognises cobra's own argument errors, which it does not type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ", "flag needs an argument", "invalid argument", "bad flag syntax"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRoot(env *Env) *cobra.Command {
	var quiet, verbose bool
	root := &cobra.Command{
		Use:   "sockit",
		Short: "A socket toolkit: serve, connect, relay and more",
		Long: `sockit is a socket toolkit: one binary for everything people reach for
netcat, ncat and socat for.

With no configuration, 'sockit serve' greets every client on port 12345 and
'sockit connect' prints what a server on localhost:12345 says.

Addresses: HOST:PORT, :PORT, tcp://, tcp4://, tcp6://, udp://, udp4://,
udp6://, unix:///path, unixgram:///path, - (stdio).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			switch {
			case quiet:
				env.level.Set(slog.LevelWarn)
			case verbose:
				env.level.Set(slog.LevelDebug)
			}
		},
	}
	root.PersistentFlags().BoolVarP(&quiet, "quiet", "q", false, "log warnings and errors only")
	root.PersistentFlags().BoolVar(&verbose, "debug", false, "log debugging detail")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newServeCmd(env),
		newConnectCmd(env),
		newRelayCmd(env),
		newVersionCmd(env),
		newNcCmd(env),
		newBrokerCmd(env),
		newBenchCmd(env),
	)
	return root
}

// Version is sockit's version.
const Version = "0.1.0"

func newVersionCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print sockit's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						rev = " " + s.Value[:12]
					}
				}
			}
			fmt.Fprintf(env.Stdout, "sockit %s%s %s %s/%s\n", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
