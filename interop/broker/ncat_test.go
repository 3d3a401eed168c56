package broker

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

var reUser = regexp.MustCompile(`<user(\d+)>`)

// normalizeUsers renames <userN> to <uK>, K counting distinct users in
// order of appearance: ncat numbers users by descriptor, sockit from 1.
func normalizeUsers(lines []string) []string {
	names := map[string]string{}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = reUser.ReplaceAllStringFunc(l, func(m string) string {
			if _, ok := names[m]; !ok {
				names[m] = "<u" + strconv.Itoa(len(names)+1) + ">"
			}
			return names[m]
		})
	}
	return out
}

// chatScenario runs two clients against a chat server on address and
// returns what the first one saw: its own join, the second's join, a line
// with control characters from the second, and its leaving.
func chatScenario(t *testing.T, address string) []string {
	t.Helper()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	readN := func(r *bufio.Reader, n int) []string {
		var lines []string
		for range n {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: after %q: %v", address, lines, err)
			}
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
		return lines
	}
	a, ra := dial()
	_ = a
	seen := readN(ra, 2) // its join and "already connected: nobody"
	b, rb := dial()
	readN(rb, 2)
	seen = append(seen, readN(ra, 2)...) // b's join and the list
	io.WriteString(b, "hello\x01\x1b[1m\xff there\n")
	seen = append(seen, readN(ra, 1)...)
	b.Close()
	seen = append(seen, readN(ra, 1)...)
	return normalizeUsers(seen)
}

// TestChatMatchesNcat runs the same chat against ncat --chat and sockit
// broker --chat: what a client sees is the same, user numbers aside.
func TestChatMatchesNcat(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	port := startNcatChat(t, ncat)
	want := chatScenario(t, "127.0.0.1:"+port)

	s := startSockit(t, "broker", "--chat", "127.0.0.1:0")
	got := chatScenario(t, s.addr)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sockit broker --chat:\n%s\nncat --chat:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("both:\n%s", strings.Join(want, "\n"))
}

// startNcatChat starts ncat -l --chat on a free port and returns the port.
// It waits for ncat's "Listening on" line, not by connecting: a client that
// closes before ncat asks for its address makes ncat --chat quit
// ("getpeername ... failed: Transport endpoint is not connected"). A port
// taken meanwhile by another test makes ncat exit; then it tries another.
func startNcatChat(t *testing.T, ncat string) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		cmd := exec.Command(ncat, "-v", "-l", "--chat", "127.0.0.1", port)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		listening := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "Listening on") {
					select {
					case listening <- true:
					default:
					}
				}
			}
			select {
			case listening <- false:
			default:
			}
		}()
		select {
		case ok := <-listening:
			if ok {
				return port
			}
			if attempt == 2 {
				t.Fatal("ncat exited before listening, three times")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ncat not listening after 10s")
		}
	}
}

func freePort(t *testing.T) string { return testutil.FreePortString(t) }

// TestNcatClients: ncat clients talk through sockit broker, as through
// ncat --broker.
func TestNcatClients(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	s := startSockit(t, "broker", "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(s.addr)
	start := func() (io.WriteCloser, *bufio.Reader, *exec.Cmd) {
		cmd := exec.Command(ncat, host, port)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
		return in, bufio.NewReader(out), cmd
	}
	inA, _, _ := start()
	_, outB, _ := start()
	lines := make(chan string, 100)
	go func() {
		for {
			l, err := outB.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	// Probe until B is joined, then the real lines.
	timeout := time.After(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond) // the probing interval
	defer tick.Stop()
probing:
	for i := 0; ; i++ {
		fmt.Fprintf(inA, "probe %d\n", i)
		select {
		case <-lines:
			break probing
		case <-tick.C:
		case <-timeout:
			t.Fatal("ncat B got nothing from ncat A through sockit broker")
		}
	}
	fmt.Fprintf(inA, "hello from ncat\nend\n")
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("ncat B ended early")
			}
			if strings.HasPrefix(l, "probe ") {
				continue
			}
			if l != "hello from ncat" {
				t.Fatalf("got %q", l)
			}
			return
		case <-timeout:
			t.Fatal("timed out")
		}
	}
}
