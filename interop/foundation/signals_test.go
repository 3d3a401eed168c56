package foundation

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// serveHolding starts sockit serve --echo with --grace and one client
// connection that has echoed a line, and returns them.
func serveHolding(t *testing.T, grace string) (*proc, string, net.Conn, *bufio.Reader) {
	t.Helper()
	srv, address := sockit(t, "serve", "127.0.0.1:0", "--echo", "--grace", grace)
	c, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	echo(t, c, r, "before\n")
	return srv, address, c, r
}

// SIGINT and SIGTERM: sockit serve stops accepting at once, lets the
// connection in flight finish within --grace, and exits 0.
func TestSignalDrainsWithinGrace(t *testing.T) {
	for _, sig := range []os.Signal{sigINT, sigTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			srv, address, c, r := serveHolding(t, "30s")
			srv.Signal(sig)
			srv.Stderr.Wait(t, regexp.MustCompile(`^shutting down active=1 grace=30s`), 10*time.Second)
			waitRefused(t, address)
			if !srv.Running() {
				t.Fatalf("exited with a connection in flight; %s", describe(srv))
			}
			echo(t, c, r, "during the grace period\n")
			c.(*net.TCPConn).CloseWrite()
			if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
				t.Fatalf("after half-close: %q, %v", rest, err)
			}
			if code := srv.Exit(10 * time.Second); code != 0 {
				t.Fatalf("exit %d; %s", code, describe(srv))
			}
			if strings.Contains(srv.Stderr.String(), "grace period over") {
				t.Errorf("connection was cut:\n%s", srv.Stderr)
			}
		})
	}
}

// A connection that outlasts --grace is cut, and the process still exits 0.
func TestSignalGraceExpires(t *testing.T) {
	for _, sig := range []os.Signal{sigINT, sigTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			srv, _, _, r := serveHolding(t, "300ms")
			begin := time.Now()
			srv.Signal(sig)
			if code := srv.Exit(10 * time.Second); code != 0 {
				t.Fatalf("exit %d; %s", code, describe(srv))
			}
			t.Logf("exited %v after the signal", time.Since(begin))
			srv.Stderr.Wait(t, regexp.MustCompile(`grace period over`), time.Second)
			if n, err := io.Copy(io.Discard, r); n != 0 || (err != nil && !isReset(err)) {
				t.Errorf("the cut connection: %d bytes, %v", n, err)
			}
		})
	}
}

// A second SIGINT or SIGTERM during --grace stops the process at once, as
// the signal's default action: killed by the signal, connections cut.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	for _, sig := range []os.Signal{sigINT, sigTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			srv, _, _, r := serveHolding(t, "30s")
			srv.Signal(sig)
			srv.Stderr.Wait(t, regexp.MustCompile(`^shutting down active=1 grace=30s`), 10*time.Second)
			srv.Signal(sig)
			if code := srv.Exit(10 * time.Second); code != -1 {
				t.Fatalf("exit %d, want killed by the second %v; %s", code, sig, describe(srv))
			}
			if n, err := io.Copy(io.Discard, r); n != 0 || (err != nil && !isReset(err)) {
				t.Errorf("the cut connection: %d bytes, %v", n, err)
			}
		})
	}
}

func echo(t *testing.T, c net.Conn, r *bufio.Reader, line string) {
	t.Helper()
	if _, err := io.WriteString(c, line); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != line {
		t.Fatalf("echo: %q, %v", got, err)
	}
}

// EMFILE: sockit serve, run with a limit of a few descriptors, logs the
// failed accepts and backs off (5 ms doubling to 1 s) instead of spinning or
// exiting, and serves again once descriptors are free.
func TestAcceptEMFILEBacksOff(t *testing.T) {
	sh := testutil.NeedCommand(t, "sh")
	cmd := exec.Command(sh, "-c", `ulimit -n 16 && exec "$0" "$@"`, sockitBin(t), "serve", "127.0.0.1:0", "--echo")
	srv := startCmd(t, nil, cmd)
	address := srv.Stderr.Wait(t, testutil.ListeningRE, 20*time.Second)[1]

	// Hold connections until the server runs out of descriptors. Each held
	// client proves it was accepted by an echo.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	emfile := regexp.MustCompile(`^warning: accept failed; retrying .*too many open files.*retry_in=(\S+)`)
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("40 connections held and no EMFILE; %s", describe(srv))
		}
		c, err := net.DialTimeout("tcp", address, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		held = append(held, c)
		if srv.Stderr.Count(emfile) > 0 {
			break
		}
		// Accepted and served, or queued behind the exhausted accept? Wait
		// briefly for the echo or the warning, whichever comes.
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil && srv.Stderr.Count(emfile) == 0 {
			srv.Stderr.Wait(t, emfile, 5*time.Second)
		}
		c.SetReadDeadline(time.Time{})
		if srv.Stderr.Count(emfile) > 0 {
			break
		}
	}
	// Backing off: the delay grows to its 1 s cap, with a handful of lines
	// (5 ms doubling reaches 1 s in 9 steps; an accept loop per CPU may each
	// back off), not the thousands a spinning loop would log.
	srv.Stderr.Wait(t, regexp.MustCompile(`accept failed; retrying .*retry_in=1s`), 10*time.Second)
	if n, most := srv.Stderr.Count(emfile), 12*runtime.NumCPU(); n > most {
		t.Errorf("%d accept warnings before the delay reached 1 s (at most %d expected): spinning?", n, most)
	}
	if !srv.Running() {
		t.Fatalf("server exited on EMFILE; %s", describe(srv))
	}
	t.Logf("%d connections held; %d accept warnings", len(held), srv.Stderr.Count(emfile))

	// Free the descriptors; a new client is served again.
	for _, c := range held {
		c.Close()
	}
	held = nil
	testutil.Eventually(t, 15*time.Second, "a client served after EMFILE", func() bool {
		c, err := net.DialTimeout("tcp", address, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(c, "again\n"); err != nil {
			return false
		}
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		return err == nil && string(b) == "again\n"
	})
	srv.Signal(sigTERM)
	if code := srv.Exit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d; %s", code, describe(srv))
	}
}
