package access

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// lineLog collects a child's output line by line.
type lineLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
	eof     bool
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) feed(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.eof = true
	close(l.changed)
	l.mu.Unlock()
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// wait returns the submatches of the first line matching re, waiting at most
// timeout.
func (l *lineLog) wait(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		for _, s := range l.lines {
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
		case <-timer.C:
			t.Fatalf("no line matching %q within %v:\n%s", re, timeout, l.String())
		}
	}
}

// child is a background process: sockit or a peer, killed by its PID when
// the test ends.
type child struct {
	cmd    *exec.Cmd
	stderr *lineLog
}

func startChild(t testing.TB, name string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(name, args...)
	errR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stderr: newLineLog()}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { c.stderr.feed(errR); cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s %s stderr:\n%s", name, strings.Join(args, " "), c.stderr)
		}
	})
	return c
}

var listeningRE = regexp.MustCompile(`^listening on (\S+)`)

// serve starts "sockit serve ARGS" and returns it with its address.
func serve(t testing.TB, args ...string) (*child, string) {
	t.Helper()
	c := startChild(t, testutil.SockitBinary(t), append([]string{"serve"}, args...)...)
	m := c.stderr.wait(t, listeningRE, 10*time.Second)
	return c, m[1]
}

// run runs a program to completion (killed after 20 s) with stdin and
// returns its stdout, stderr and error.
func run(t testing.TB, stdin io.Reader, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}
