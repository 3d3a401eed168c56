package execinterop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// roundTrip sends msg to address, half-closes and returns all it gets back.
func roundTrip(ctx context.Context, network, address, msg string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, msg)
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	out, err := io.ReadAll(c)
	if werr := <-errc; werr != nil {
		return string(out), fmt.Errorf("write: %w", werr)
	}
	return string(out), err
}

// "sockit relay ADDR exec:cat" is an echo server, for OpenBSD nc, ncat and
// twenty concurrent Go clients sending 256 KiB each.
func TestRelayToExecCatIsEchoServer(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	srv, address := testutil.StartSockit(t, "relay", "127.0.0.1:0", "exec:cat")
	host, port, _ := net.SplitHostPort(address)

	nc := testutil.NeedCommand(t, "nc")
	out, errOut, code := testutil.Run(t, 20*time.Second, strings.NewReader("hello from nc\n"), nc, "-N", host, port)
	if code != 0 || out != "hello from nc\n" {
		t.Errorf("nc: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	ncat := testutil.NeedCommand(t, "ncat")
	out, errOut, code = testutil.Run(t, 20*time.Second, strings.NewReader("hello from ncat\n"), ncat, host, port)
	if code != 0 || out != "hello from ncat\n" {
		t.Errorf("ncat: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	const clients = 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := strings.Repeat(fmt.Sprintf("client %02d ", i), 256*1024/10)
			got, err := roundTrip(ctx, "tcp", address, msg)
			if err == nil && got != msg {
				err = fmt.Errorf("got %d bytes back, want %d", len(got), len(msg))
			}
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`^exec exited .*status="exit 0"`), 10*time.Second)
	srv.Cmd.Process.Signal(syscall.SIGTERM)
	if code := srv.Exit(20 * time.Second); code != 0 {
		t.Fatalf("relay exit %d; %s", code, srv.Describe())
	}
}

// readAll connects and reads until the server closes, sending nothing (ncat
// ends an --sh-exec child as soon as the client half-closes).
func readAll(ctx context.Context, address string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	out, err := io.ReadAll(c)
	return string(out), err
}

// envOf parses env(1) output.
func envOf(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// The child of "relay ADDR sh:env" sees the client's and the listener's
// addresses under sockit's and ncat's names.
func TestRelayToShEnvSeesConnection(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	_, address := testutil.StartSockit(t, "relay", "127.0.0.1:0", "sh:env")
	_, lport, _ := net.SplitHostPort(address)
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(string(out))
	cport := strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
	want := map[string]string{
		"SOCKIT_REMOTE_ADDR": "127.0.0.1", "SOCKIT_REMOTE_PORT": cport,
		"SOCKIT_LOCAL_ADDR": "127.0.0.1", "SOCKIT_LOCAL_PORT": lport, "SOCKIT_PROTO": "tcp",
		"NCAT_REMOTE_ADDR": "127.0.0.1", "NCAT_REMOTE_PORT": cport,
		"NCAT_LOCAL_ADDR": "127.0.0.1", "NCAT_LOCAL_PORT": lport, "NCAT_PROTO": "TCP",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if env["PATH"] == "" {
		t.Errorf("the child did not inherit PATH:\n%s", out)
	}
}

// A script written for "ncat -l --sh-exec" sees the same NCAT_* variables
// under "sockit serve --sh-exec".
func TestShExecMatchesNcat(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	ctx := testutil.Context(t, 30*time.Second)
	script := `echo "$NCAT_REMOTE_ADDR $NCAT_LOCAL_ADDR $NCAT_LOCAL_PORT $NCAT_PROTO" ; test -n "$NCAT_REMOTE_PORT" && echo port-set`

	port := testutil.FreePortString(t)
	nc := testutil.StartPiped(t, exec.Command(ncat, "-v", "-l", "127.0.0.1", port, "--sh-exec", script))
	nc.Stderr.Wait(t, regexp.MustCompile(`Listening on 127\.0\.0\.1:`+port), 20*time.Second)
	fromNcat, err := readAll(ctx, "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("ncat: %v", err)
	}

	_, address := testutil.StartSockit(t, "serve", "127.0.0.1:0", "--sh-exec", script)
	fromSockit, err := readAll(ctx, address)
	if err != nil {
		t.Fatalf("sockit: %v", err)
	}
	_, sport, _ := net.SplitHostPort(address)
	want := "127.0.0.1 127.0.0.1 %s TCP\nport-set\n"
	if fromNcat != fmt.Sprintf(want, port) {
		t.Errorf("ncat's child said %q", fromNcat)
	}
	if fromSockit != fmt.Sprintf(want, sport) {
		t.Errorf("sockit's child said %q, ncat's %q", fromSockit, fromNcat)
	}
}

// "sockit serve --exec PROGRAM ARGS" runs the program without a shell, its
// arguments split like a shell's words.
func TestServeExecWithNcatClient(t *testing.T) {
	ncat := testutil.NeedCommand(t, "ncat")
	_, address := testutil.StartSockit(t, "serve", "127.0.0.1:0", "--exec", `tr 'a-z' "A-Z"`)
	host, port, _ := net.SplitHostPort(address)
	out, errOut, code := testutil.Run(t, 20*time.Second, strings.NewReader("shout this\n"), ncat, host, port)
	if code != 0 || out != "SHOUT THIS\n" {
		t.Fatalf("ncat: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// A child that ignores its input closing is killed --grace later, the
// connection ends, and both are logged.
func TestChildIgnoringInputIsKilledAfterGrace(t *testing.T) {
	t.Run("serve", func(t *testing.T) {
		testGraceKill(t, "serve", "127.0.0.1:0", "--sh-exec", "echo ready; exec sleep 60", "--grace", "300ms")
	})
	t.Run("relay", func(t *testing.T) {
		testGraceKill(t, "relay", "127.0.0.1:0", "sh:echo ready; exec sleep 60", "--grace", "300ms")
	})
}

func testGraceKill(t *testing.T, args ...string) {
	ctx := testutil.Context(t, 30*time.Second)
	srv, address := testutil.StartSockit(t, args...)
	start := time.Now()
	out, err := roundTrip(ctx, "tcp", address, "input nobody reads\n")
	if err != nil {
		t.Fatal(err)
	}
	if out != "ready\n" {
		t.Errorf("got %q", out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the connection lasted %v", d)
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`^warning: exec still running after its input closed; killing it .*grace=300ms`), 10*time.Second)
	srv.Stderr.Wait(t, regexp.MustCompile(`^exec exited .*status="signal: killed"`), 10*time.Second)
}

// A program that cannot start fails that connection only, with a logged
// reason; the next connection is served.
func TestMissingProgramFailsOneConnection(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	srv, address := testutil.StartSockit(t, "relay", "127.0.0.1:0", "exec:"+prog)
	out, _ := roundTrip(ctx, "tcp", address, "x")
	if out != "" {
		t.Errorf("got %q", out)
	}
	srv.Stderr.Wait(t, regexp.MustCompile(`connection closed .*reason=dial-failed .*no such file`), 10*time.Second)
	// Still serving.
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatalf("relay stopped serving: %v", err)
	}
	c.Close()
}

// Unix stream listeners and UDP sessions feed programs too.
func TestExecBehindUnixAndUDP(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	sock := filepath.Join(t.TempDir(), "s.sock")
	_, _ = testutil.StartSockit(t, "relay", "unix://"+sock, `sh:echo "$SOCKIT_PROTO $SOCKIT_LOCAL_ADDR"`)
	out, err := roundTrip(ctx, "unix", sock, "")
	if err != nil || out != "unix "+sock+"\n" {
		t.Errorf("unix: got %q, %v", out, err)
	}

	_, address := testutil.StartSockit(t, "relay", "udp://127.0.0.1:0", "exec:cat")
	c, err := net.Dial("udp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 100)
	for _, msg := range []string{"one\n", "two\n"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte(msg)) {
			t.Fatalf("udp: got %q, %v; want %q", buf[:n], err, msg)
		}
	}
}

// stdin to a program: "sockit relay - exec:PROGRAM" as socat's
// "STDIO EXEC:PROGRAM".
func TestRelayStdioToExec(t *testing.T) {
	out, errOut, code := testutil.RunSockit(t, "abc\n", "relay", "-", "exec:tr a-c x-z")
	if code != 0 || out != "xyz\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
