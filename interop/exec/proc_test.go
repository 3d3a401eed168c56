package execinterop

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// lines collects a child's output line by line and lets a test wait for a
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

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
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
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *lines
	stderr *lines
	done   chan struct{}
	err    error
}

// start starts prog with args, its stdin a pipe the test holds. The child is
// killed (by its PID) when the test ends if it still runs.
func start(t testing.TB, prog string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(prog, args...)
	p := &proc{t: t, cmd: cmd, stdout: newLines(), stderr: newLines(), done: make(chan struct{})}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
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
		t.Fatalf("start %s: %v", prog, err)
	}
	var feeders sync.WaitGroup
	feeders.Add(2)
	go func() { defer feeders.Done(); p.stdout.feed(outR) }()
	go func() { defer feeders.Done(); p.stderr.feed(errR) }()
	go func() {
		feeders.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

var listeningRE = regexp.MustCompile(`^listening on (\S+)`)

// sockit starts the sockit binary listening and returns its address.
func sockit(t testing.TB, args ...string) (*proc, string) {
	t.Helper()
	p := start(t, testutil.SockitBinary(t), args...)
	m := p.stderr.wait(t, listeningRE, 20*time.Second)
	return p, m[1]
}

// exit waits up to timeout for the child to exit and returns its exit code.
func (p *proc) exit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v; stderr:\n%s\nstdout:\n%s", p.cmd.Path, timeout, p.stderr, p.stdout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.cmd.Path, p.err)
	}
	return 0
}

// run runs prog to its end within timeout, feeding it stdin, and returns its
// stdout, stderr and exit code.
func run(t testing.TB, timeout time.Duration, stdin string, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Stdin = strings.NewReader(stdin)
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
		t.Fatalf("%s %q did not finish within %v; stdout %q stderr %q", prog, args, timeout, out.String(), errb.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return out.String(), errb.String(), code
}

// runSockit runs the sockit binary to its end.
func runSockit(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, 20*time.Second, stdin, testutil.SockitBinary(t), args...)
}

// freePort returns a free TCP port on 127.0.0.1, for peers that cannot
// report the port they chose.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// oneLine checks that stderr is a one-line error containing every want.
func oneLine(t testing.TB, stderr string, want ...string) {
	t.Helper()
	s := strings.TrimRight(stderr, "\n")
	if strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
		t.Fatalf("panic trace on stderr:\n%s", stderr)
	}
	if strings.Count(s, "\n") > 0 {
		t.Errorf("stderr has more than one line:\n%s", stderr)
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("stderr %q does not contain %q", s, w)
		}
	}
}

func describe(p *proc) string {
	return fmt.Sprintf("stderr:\n%s\nstdout:\n%s", p.stderr, p.stdout)
}
