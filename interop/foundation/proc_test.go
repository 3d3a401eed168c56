package foundation

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// lines collects a child's stderr line by line and lets a test wait for a
// line matching a pattern.
type lines struct {
	mu      sync.Mutex
	all     []string
	changed chan struct{} // closed and replaced on every new line
	eof     bool
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) feed(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.eof = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// String returns every line so far.
func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// count returns how many lines so far match re.
func (l *lines) count(re *regexp.Regexp) int {
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

// wait returns the submatches of the first line matching re, waiting up to
// timeout for it.
func (l *lines) wait(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
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

// proc is a child process under test: sockit or a peer.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stderr *lines
	stdout *lines
	done   chan struct{}
	err    error
}

var listeningRE = regexp.MustCompile(`^listening on (\S+)`)

// start starts the program with args; stdin, when not nil, feeds its
// standard input. Its stdout and stderr are collected line by line. The
// child is killed (by its PID) when the test ends if it is still running.
func start(t testing.TB, stdin io.Reader, prog string, args ...string) *proc {
	t.Helper()
	return startCmd(t, stdin, exec.Command(prog, args...))
}

func startCmd(t testing.TB, stdin io.Reader, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, name: cmd.Path, cmd: cmd, stderr: newLines(), stdout: newLines(), done: make(chan struct{})}
	cmd.Stdin = stdin
	errR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	var feeders sync.WaitGroup
	feeders.Add(2)
	go func() { defer feeders.Done(); p.stderr.feed(errR) }()
	go func() { defer feeders.Done(); p.stdout.feed(outR) }()
	go func() {
		feeders.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// sockitBin returns the sockit binary under test: $SOCKIT_TEST_BINARY when
// set (to run these tests against another build), else the tree's own build.
func sockitBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SOCKIT_TEST_BINARY"); p != "" {
		return p
	}
	return testutil.SockitBinary(t)
}

// sockit starts the sockit binary with args and, for a listening command,
// waits for its "listening on ADDR" line and returns ADDR.
func sockit(t testing.TB, args ...string) (*proc, string) {
	t.Helper()
	p := start(t, nil, sockitBin(t), args...)
	m := p.stderr.wait(t, listeningRE, 20*time.Second)
	return p, m[1]
}

// signal sends sig to the child.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// exit waits up to timeout for the child to exit and returns its exit code.
func (p *proc) exit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v; stderr:\n%s", p.name, timeout, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.t.Fatalf("%s killed by %v; stderr:\n%s", p.name, ws.Signal(), p.stderr)
		}
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

// running reports whether the child has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// run runs the program to its end within timeout and returns its stdout,
// stderr and exit code.
func run(t testing.TB, timeout time.Duration, stdin io.Reader, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Stdin = stdin
	cmd.Stdout = &out
	cmd.Stderr = &errb
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
		t.Fatalf("%s %q did not finish within %v; stdout %q stderr %q", prog, args, timeout, clip(out.String()), clip(errb.String()))
	}
	code = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return out.String(), errb.String(), code
}

// runSockit runs the sockit binary to its end.
func runSockit(t testing.TB, timeout time.Duration, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, timeout, stdin, sockitBin(t), args...)
}

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// hostPort returns "127.0.0.1:PORT" and the port as a string.
func hostPort(port int) (string, string) {
	p := strconv.Itoa(port)
	return net.JoinHostPort("127.0.0.1", p), p
}

// splitPort returns the port of a HOST:PORT address.
func splitPort(t testing.TB, address string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		t.Fatalf("address %q: %v", address, err)
	}
	return port
}

// oneLine checks that an error message is one line naming want and the
// cause, with no panic trace.
func oneLine(t testing.TB, stderr string, want ...string) {
	t.Helper()
	s := strings.TrimRight(stderr, "\n")
	if strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
		t.Fatalf("panic trace on stderr:\n%s", stderr)
	}
	first, _, _ := strings.Cut(s, "\n")
	for _, w := range want {
		if !strings.Contains(first, w) {
			t.Errorf("stderr's first line %q does not contain %q (whole stderr %q)", first, w, stderr)
		}
	}
	if n := strings.Count(s, "\n"); n > 1 {
		t.Errorf("stderr has %d lines, want the error in one (and at most a usage hint):\n%s", n+1, stderr)
	}
}

func describe(p *proc) string {
	return fmt.Sprintf("stderr:\n%s\nstdout:\n%s", clip(p.stderr.String()), clip(p.stdout.String()))
}

// clip shortens s for a failure message, keeping its end.
func clip(s string) string {
	const max = 400
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("[%d bytes]...%s", len(s)-max, s[len(s)-max:])
}
