package exec

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	osexec "os/exec"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long a child may run on after its standard input was
// closed when Config.Grace is zero.
const DefaultGrace = 5 * time.Second

// Config holds the options of the children started. The zero value runs
// children in sockit's environment and directory, discards their standard
// error and gives them DefaultGrace.
type Config struct {
	// Grace is how long a child may keep running once its standard input is
	// closed (the peer half-closed or went away) before it is killed with
	// its process group; zero means DefaultGrace.
	Grace time.Duration
	// Env is the base environment; nil means the current process's. The
	// connection's variables (see Environ) are added to it.
	Env []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Stderr receives the child's standard error; nil discards it.
	Stderr io.Writer
	// Logger receives the start and exit status of each child; nil
	// discards them.
	Logger *slog.Logger
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Conn is a running child seen as a connection: Read reads its standard
// output, Write writes its standard input, CloseWrite closes its standard
// input. Close closes both and waits for the child to exit, killing it once
// Grace has passed since its standard input was closed.
type Conn struct {
	cmd    *osexec.Cmd
	stdin  *os.File // our end of the child's standard input
	stdout *os.File // our end of the child's standard output
	grace  time.Duration
	logger *slog.Logger
	peer   net.Addr
	done   chan struct{} // closed once the child has been reaped
	err    error         // the child's exit error; valid once done is closed

	stdinOnce sync.Once
	closeOnce sync.Once
	killer    *time.Timer
	mu        sync.Mutex
}

var _ net.Conn = (*Conn)(nil)

// StartFor starts cmd with cfg for conn: conn's addresses go into the
// child's environment and, when conn is a TLS connection, its TLS version,
// server name and verified client certificate subject (see TLSEnviron).
func StartFor(cmd Command, cfg Config, conn net.Conn) (*Conn, error) {
	if tc, ok := conn.(*tls.Conn); ok {
		base := cfg.Env
		if base == nil {
			base = os.Environ()
		}
		cfg.Env = append(append([]string(nil), base...), TLSEnviron(tc.ConnectionState())...)
	}
	return Start(cmd, cfg, conn.LocalAddr(), conn.RemoteAddr())
}

// Start starts cmd with cfg for a connection between local and remote (either
// may be nil), whose addresses go into the child's environment.
func Start(cmd Command, cfg Config, local, remote net.Addr) (*Conn, error) {
	if len(cmd.Argv) == 0 {
		return nil, errors.New("exec: no program given")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", cmd, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("exec %s: %w", cmd, err)
	}
	c := osexec.Command(cmd.Argv[0], cmd.Argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = inR, outW, cfg.Stderr
	c.Dir = cfg.Dir
	base := cfg.Env
	if base == nil {
		base = os.Environ()
	}
	c.Env = append(append([]string(nil), base...), Environ(local, remote)...)
	// A process group of its own, so that killing it reaches what a shell
	// started too.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.WaitDelay = time.Second // do not hang on a grandchild holding stderr
	err = c.Start()
	inR.Close() // the child holds its own copies now
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		var ee *osexec.Error
		if errors.As(err, &ee) {
			err = ee.Err
		}
		return nil, fmt.Errorf("exec %s: %w", cmd, err)
	}
	grace := cfg.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	x := &Conn{
		cmd: c, stdin: inW, stdout: outR, grace: grace,
		logger: cfg.logger(), peer: remote, done: make(chan struct{}),
	}
	x.logger.Debug("exec started", "pid", c.Process.Pid, "command", cmd.String(), "remote", addrString(remote))
	go x.reap()
	return x, nil
}

// reap waits for the child and logs how it ended.
func (c *Conn) reap() {
	c.err = c.cmd.Wait()
	c.mu.Lock()
	if c.killer != nil {
		c.killer.Stop()
	}
	c.mu.Unlock()
	close(c.done)
	status := "exit 0"
	if c.err != nil {
		status = c.err.Error()
		var ee *osexec.ExitError
		if errors.As(c.err, &ee) {
			status = ee.ProcessState.String()
		}
	}
	attrs := []any{"pid", c.cmd.Process.Pid, "status", status}
	if c.peer != nil {
		attrs = append(attrs, "remote", c.peer.String())
	}
	c.logger.Info("exec exited", attrs...)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Read reads the child's standard output.
func (c *Conn) Read(p []byte) (int, error) { return c.stdout.Read(p) }

// Write writes to the child's standard input.
func (c *Conn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// CloseWrite closes the child's standard input, signalling end of input, and
// starts the grace period after which a child still running is killed.
func (c *Conn) CloseWrite() error {
	var err error
	c.stdinOnce.Do(func() {
		err = c.stdin.Close()
		c.mu.Lock()
		c.killer = time.AfterFunc(c.grace, c.kill)
		c.mu.Unlock()
	})
	return err
}

// kill ends the child's process group unless the child is gone already.
func (c *Conn) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	pid := c.cmd.Process.Pid
	c.logger.Warn("exec still running after its input closed; killing it", "pid", pid, "grace", c.grace, "remote", addrString(c.peer))
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		c.cmd.Process.Kill()
	}
}

// Close closes the child's standard input and output and waits until it has
// exited, which is at most the grace period.
func (c *Conn) Close() error {
	c.CloseWrite()
	c.closeOnce.Do(func() { c.stdout.Close() })
	<-c.done
	return nil
}

// Wait waits for the child to exit and returns its exit error (nil for
// status 0).
func (c *Conn) Wait() error {
	<-c.done
	return c.err
}

// Done is closed once the child has exited.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Pid returns the child's process id.
func (c *Conn) Pid() int { return c.cmd.Process.Pid }

// LocalAddr returns the child's address, named after its program.
func (c *Conn) LocalAddr() net.Addr { return Addr(c.cmd.Path) }

// RemoteAddr returns the child's address, named after its program.
func (c *Conn) RemoteAddr() net.Addr { return Addr(c.cmd.Path) }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.stdout.SetReadDeadline(t), c.stdin.SetWriteDeadline(t))
}

// SetReadDeadline bounds reads of the child's output.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.stdout.SetReadDeadline(t) }

// SetWriteDeadline bounds writes to the child's input.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.stdin.SetWriteDeadline(t) }

// Addr is the address of a child process: its program's path.
type Addr string

// Network returns "exec".
func (Addr) Network() string { return "exec" }

// String returns the program's path.
func (a Addr) String() string { return string(a) }

// peerKey is the context key of the connection a dial is made for.
type peerKey struct{}

// WithPeer returns ctx carrying conn as the connection a Dialer's child
// serves, so the child's environment names conn's addresses.
func WithPeer(ctx context.Context, conn net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, conn)
}

// PeerFrom returns the connection WithPeer stored in ctx, or nil.
func PeerFrom(ctx context.Context) net.Conn {
	c, _ := ctx.Value(peerKey{}).(net.Conn)
	return c
}

// Dialer starts a child per dial: a relay's target that is a program.
type Dialer struct {
	Command Command
	Config  Config
}

// DialContext starts the child. When ctx carries a connection (WithPeer),
// its addresses go into the child's environment.
func (d Dialer) DialContext(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p := PeerFrom(ctx); p != nil {
		return StartFor(d.Command, d.Config, p)
	}
	return Start(d.Command, d.Config, nil, nil)
}
