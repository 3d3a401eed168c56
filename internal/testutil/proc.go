package testutil

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Lines collects a stream line by line and lets a test wait for a line
// matching a pattern: how tests wait on a child's readiness messages.
type Lines struct {
	mu      sync.Mutex
	all     []string
	changed chan struct{} // closed and replaced on every new line
	eof     bool
}

// NewLines returns an empty Lines.
func NewLines() *Lines { return &Lines{changed: make(chan struct{})} }

// Feed reads r to its end, recording each line.
func (l *Lines) Feed(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		l.notify()
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.eof = true
	l.notify()
	l.mu.Unlock()
}

func (l *Lines) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// String returns every line so far, joined by newlines.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// Count returns how many lines so far match re.
func (l *Lines) Count(re *regexp.Regexp) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.all {
		if re.MatchString(s) {
			n++
		}
	}
	return n
}

// Wait returns the submatches of the first line matching re, waiting up to
// timeout for it; it fails the test if the stream ends or time runs out.
func (l *Lines) Wait(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, s := range l.all {
			if m := re.FindStringSubmatch(s); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		ch, eof := l.changed, l.eof
		l.mu.Unlock()
		if eof {
			t.Fatalf("output ended without a line matching %q:\n%s", re, l.String())
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no line matching %q within %v:\n%s", re, timeout, l.String())
		}
	}
}

// Proc is a child process under test, sockit or a peer, with its output
// collected line by line. It is killed by its PID when the test ends if it
// still runs.
type Proc struct {
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Stdin is the child's standard input when started with StartPiped.
	Stdin io.WriteCloser
	// Stdout and Stderr collect the child's output.
	Stdout, Stderr *Lines

	t    testing.TB
	done chan struct{}
	err  error
}

// ListeningRE matches sockit's "listening on ADDR" line; its submatch is ADDR.
var ListeningRE = regexp.MustCompile(`^listening on (\S+)`)

// Start starts cmd with its Stdin as set (nil reads nothing).
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	return start(t, cmd, false)
}

// StartPiped starts cmd with its standard input a pipe the test holds in
// Proc.Stdin.
func StartPiped(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	return start(t, cmd, true)
}

func start(t testing.TB, cmd *exec.Cmd, piped bool) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, Stdout: NewLines(), Stderr: NewLines(), t: t, done: make(chan struct{})}
	var err error
	if piped {
		if p.Stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	outR, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	var feeders sync.WaitGroup
	feeders.Add(2)
	go func() { defer feeders.Done(); p.Stdout.Feed(outR) }()
	go func() { defer feeders.Done(); p.Stderr.Feed(errR) }()
	go func() {
		feeders.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.Stdin != nil {
			p.Stdin.Close()
		}
		if p.Running() {
			cmd.Process.Kill()
		}
		<-p.done
		if t.Failed() {
			t.Logf("%s %q:\n%s", cmd.Path, cmd.Args[1:], p.Describe())
		}
	})
	return p
}

// StartSockit starts the sockit binary under test with args and waits for
// its "listening on ADDR" line, returning ADDR.
func StartSockit(t testing.TB, args ...string) (*Proc, string) {
	t.Helper()
	p := Start(t, exec.Command(SockitBinary(t), args...))
	m := p.Stderr.Wait(t, ListeningRE, 20*time.Second)
	return p, m[1]
}

// Signal sends sig to the child.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Running reports whether the child has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exit waits up to timeout for the child to exit and returns its exit code,
// -1 when a signal killed it.
func (p *Proc) Exit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v; %s", p.Cmd.Path, timeout, p.Describe())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.Cmd.Path, p.err)
	}
	return 0
}

// Describe returns the child's output so far, clipped, for failure messages.
func (p *Proc) Describe() string {
	return fmt.Sprintf("stderr:\n%s\nstdout:\n%s", Clip(p.Stderr.String()), Clip(p.Stdout.String()))
}

// Run runs prog to its end within timeout, feeding it stdin (nil: nothing),
// and returns its stdout, stderr and exit code.
func Run(t testing.TB, timeout time.Duration, stdin io.Reader, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", prog, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %q did not finish within %v; stdout %q stderr %q", prog, args, timeout, Clip(out.String()), Clip(errb.String()))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return out.String(), errb.String(), code
}

// RunSockit runs the sockit binary under test to its end (at most 20 s),
// with stdin as its standard input.
func RunSockit(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return Run(t, 20*time.Second, strings.NewReader(stdin), SockitBinary(t), args...)
}

// FreePort returns a port free for both TCP and UDP on 127.0.0.1, for peers
// that cannot report the port they chose.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := PickFreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePortString is FreePort as a command-line argument.
func FreePortString(t testing.TB) string {
	t.Helper()
	return strconv.Itoa(FreePort(t))
}

// PickFreePort is FreePort for callers without a testing.TB (testscript
// commands).
//
// It picks at random below the kernel's ephemeral port range, not with
// "127.0.0.1:0": a port from that range can be taken, between the pick and
// the peer's bind, as the local port of some client's connection (the
// 10,000-client tests open that many at once, perhaps in another test
// process), and the peer's bind then fails with EADDRINUSE.
func PickFreePort() (int, error) {
	lo, hi := 20000, ephemeralLow()
	for range 200 {
		port := 0 // the kernel's choice, when the range below is too small
		if hi-lo >= 1000 {
			port = lo + rand.IntN(hi-lo)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("no port free for both TCP and UDP on 127.0.0.1")
}

// ephemeralLow returns the first port of the kernel's ephemeral range
// (Linux's default when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// NoPanic fails the test if stderr holds a panic trace.
func NoPanic(t testing.TB, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Fatalf("panic trace on stderr:\n%s", stderr)
	}
}

// Clip shortens s for a failure message, keeping its end.
func Clip(s string) string {
	const max = 400
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("[%d bytes]...%s", len(s)-max, s[len(s)-max:])
}

// OneLine checks that stderr is a one-line error containing every want, with
// no panic trace.
func OneLine(t testing.TB, stderr string, want ...string) {
	t.Helper()
	NoPanic(t, stderr)
	s := strings.TrimRight(stderr, "\n")
	if strings.Contains(s, "\n") {
		t.Errorf("stderr has more than one line:\n%s", stderr)
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("stderr %q does not contain %q", s, w)
		}
	}
}
