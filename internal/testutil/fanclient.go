package testutil

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fanclient is a running fanclient process (interop/broker/fanclient, the
// load side of the 10,000-client broker tests), driven by commands on its
// stdin; it answers one line per command on its stdout.
type Fanclient struct {
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// BuildFanclient builds fanclient without the race detector, so one process
// holds thousands of clients cheaply, and returns its path.
func BuildFanclient(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "fanclient")
	cmd := exec.Command("go", "build", "-o", out, "sockit/interop/broker/fanclient")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fanclient: %v\n%s", err, b)
	}
	return out
}

// StartFanclient starts the fanclient at bin with args, in its own process
// group, under name for messages. When the test ends its stdin is closed;
// a process still running 10 s later is killed with its group.
func StartFanclient(t testing.TB, name, bin string, args ...string) *Fanclient {
	t.Helper()
	f := &Fanclient{name: name, cmd: exec.Command(bin, args...), lines: make(chan string, 100)}
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	f.cmd.Stderr = os.Stderr
	var err error
	if f.in, err = f.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		defer close(f.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		f.in.Close()
		done := make(chan struct{})
		go func() { f.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return f
}

// Do sends one command line.
func (f *Fanclient) Do(t testing.TB, command string) {
	t.Helper()
	if _, err := io.WriteString(f.in, command+"\n"); err != nil {
		t.Fatalf("%s: %s: %v", f.name, command, err)
	}
}

// Expect waits up to timeout for the next line and checks that it starts
// with prefix; it returns the line.
func (f *Fanclient) Expect(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	select {
	case line, ok := <-f.lines:
		if !ok {
			t.Fatalf("%s exited; wanted %q", f.name, prefix)
		}
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("%s: got %q, want %q", f.name, line, prefix)
		}
		return line
	case <-time.After(timeout):
		t.Fatalf("%s: no %q within %v", f.name, prefix, timeout)
	}
	return ""
}

// FanRounds runs rounds of the main load: in each, every sender of every
// fanclient sends one record, and every client must have all of them before
// the next round. senders is each fanclient's -senders. It returns the
// records each client received.
func FanRounds(t testing.TB, fans []*Fanclient, rounds, senders int) int {
	t.Helper()
	total := 0
	for range rounds {
		for _, f := range fans {
			f.Do(t, "send M")
		}
		total += len(fans) * senders
		for _, f := range fans {
			f.Do(t, fmt.Sprintf("wait M %d", total))
		}
		for _, f := range fans {
			f.Expect(t, fmt.Sprintf("ok M %d", total), time.Minute)
		}
	}
	return total
}
