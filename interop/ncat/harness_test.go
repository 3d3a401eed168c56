package ncat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// peer is one implementation under test: the real ncat, or sockit invoked
// through a symlink named ncat (so argv[0] selects the front end).
type peer struct {
	name string
	bin  string
}

// peers returns the real ncat and sockit-as-ncat.
func peers(t *testing.T) []peer {
	t.Helper()
	real := testutil.NeedCommand(t, "ncat")
	return []peer{{"ncat", real}, sockitPeer(t)}
}

// sockitPeer returns sockit invoked through a symlink named ncat.
func sockitPeer(t *testing.T) peer {
	t.Helper()
	link := filepath.Join(t.TempDir(), "ncat")
	if err := os.Symlink(testutil.SockitBinary(t), link); err != nil {
		t.Fatal(err)
	}
	return peer{"sockit", link}
}

// obs is what a scenario observed: named facts compared between the peers.
type obs map[string]string

func (o obs) String() string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %q\n", k, o[k])
	}
	return b.String()
}

// scenario is one differential case: run drives a peer and reports what it
// observed; the observations of ncat and sockit must be equal.
type scenario struct {
	name    string
	options []string // the ncat options this scenario covers
	run     func(t *testing.T, p peer) obs
}

// runScenarios runs each scenario against both peers and compares.
func runScenarios(t *testing.T, list []scenario) {
	ps := peers(t)
	for _, sc := range list {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var got [2]obs
			for i, p := range ps {
				got[i] = sc.run(t, p)
			}
			if got[0].String() != got[1].String() {
				t.Errorf("ncat and sockit differ (options %v)\nncat:\n%ssockit:\n%s", sc.options, got[0], got[1])
			}
		})
	}
}

// proc is a running peer.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *testutil.Buffer
	stderr *testutil.Buffer
	done   chan struct{}
	code   int
}

// start runs p with args; the test holds its standard input open until
// closeStdin. The process is killed (by PID) when the test ends.
func start(t *testing.T, p peer, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = dir
	// Its own process group, so that killing it also ends the children an
	// --exec started, and a bound on waiting for their copies of its pipes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	pr := &proc{t: t, cmd: cmd, stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pr.stdout, pr.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.stdin = in
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.bin, err)
	}
	go func() {
		err := cmd.Wait()
		pr.code = cmd.ProcessState.ExitCode()
		if err != nil && pr.code == -1 {
			pr.code = 128 + int(cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
		}
		close(pr.done)
	}()
	t.Cleanup(func() {
		pr.kill()
	})
	return pr
}

func (p *proc) send(s string) {
	if _, err := io.WriteString(p.stdin, s); err != nil {
		p.t.Errorf("write to stdin: %v", err)
	}
}

func (p *proc) closeStdin() { p.stdin.Close() }

// exit waits for the process to end and returns its exit code; -1 when it
// did not end within d (it is then killed).
func (p *proc) exit(d time.Duration) int {
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.kill()
		return -1
	}
}

// kill ends the process (listeners with -k never end by themselves).
func (p *proc) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // the group this test started
	<-p.done
}

// waitStderr waits until stderr matches re and returns the submatches. It
// fails at once when the process ends first, with what it wrote.
func (p *proc) waitStderr(re *regexp.Regexp, d time.Duration) []string {
	p.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
				return m
			}
			p.t.Fatalf("%s exited with %d before stderr matched %q; stderr: %q", p.cmd.Path, p.code, re, p.stderr.String())
		case <-deadline.C:
			p.t.Fatalf("%s: no stderr matching %q within %v; stderr: %q", p.cmd.Path, re, d, p.stderr.String())
		case <-tick.C:
		}
	}
}

// waitStdout waits until stdout contains s.
func (p *proc) waitStdout(s string, d time.Duration) {
	p.t.Helper()
	testutil.Eventually(p.t, d, fmt.Sprintf("stdout containing %q (so far %q)", s, p.stdout.String()), func() bool {
		return strings.Contains(p.stdout.String(), s)
	})
}

var (
	reListening = regexp.MustCompile(`Ncat: Listening on \S+`)
	reSeconds   = regexp.MustCompile(`in \d+\.\d+ seconds`)
	rePort      = regexp.MustCompile(`:\d+(\.?$|: )`)
)

// messages returns the "Ncat: " lines that matter, with what varies between
// runs (times, client ports) normalised; the version line and diagnostics of
// the TLS key are left out.
func messages(stderr string) string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(l, "Ncat: ") || strings.HasPrefix(l, "Ncat: Version") ||
			strings.Contains(l, "fingerprint") || strings.Contains(l, "Generating a temporary") {
			continue
		}
		l = reSeconds.ReplaceAllString(l, "in T seconds")
		l = rePort.ReplaceAllString(l, ":P$1")
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// freePort returns a port free on 127.0.0.1 for both TCP and UDP.
func freePort(t *testing.T) string { return testutil.FreePortString(t) }

// listenPeer starts p as a listener with -v (its "Listening on" line is the
// readiness signal) and waits until it listens.
func listenPeer(t *testing.T, p peer, dir string, args ...string) *proc {
	t.Helper()
	pr := start(t, p, dir, append([]string{"-v"}, args...)...)
	pr.waitStderr(reListening, 10*time.Second)
	return pr
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// readAll reads c until EOF or d passes, and reports which ended it.
func readAll(c net.Conn, d time.Duration) (string, string) {
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	end := "eof"
	if err != nil {
		end = "timeout"
		if !os.IsTimeout(err) {
			end = "error"
		}
	}
	return string(b), end
}

// readUntil reads c until the bytes read contain s or d passes.
func readUntil(c net.Conn, s string, d time.Duration) string {
	c.SetReadDeadline(time.Now().Add(d))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(s)) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Time{})
	return string(got)
}

// dial connects to the listener on 127.0.0.1:port.
// A refused dial is retried for a while: a Unix socket's file appears at
// bind(2), a moment before listen(2) makes it accept.
func dial(t *testing.T, network, address string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout(network, address, 5*time.Second)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", address, err)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// code formats an exit code for obs.
func code(n int) string { return strconv.Itoa(n) }
