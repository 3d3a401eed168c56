package foundation

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// OpenBSD nc -N and ncat, as clients of sockit serve: the greeting, and the
// echo service, which shows each client's half-close reaching sockit and
// sockit's reply and close reaching the client.
func TestPeersAsClientsOfServe(t *testing.T) {
	type peer struct {
		name string
		args func(host, port string) []string
	}
	peers := []peer{
		{"nc", func(h, p string) []string { return []string{"-N", h, p} }},
		{"ncat", func(h, p string) []string { return []string{h, p} }},
	}
	for _, pr := range peers {
		t.Run(pr.name, func(t *testing.T) {
			bin := testutil.NeedCommand(t, pr.name)
			greet, ga := sockit(t, "serve", "127.0.0.1:0")
			echo, ea := sockit(t, "serve", "127.0.0.1:0", "--echo")

			out, errOut, code := run(t, 20*time.Second, strings.NewReader(""), bin, pr.args("127.0.0.1", splitPort(t, ga))...)
			if code != 0 || out != greeting {
				t.Errorf("%s to serve: exit %d, stdout %q, stderr %q", pr.name, code, out, errOut)
			}
			data := strings.Repeat("both ways through "+pr.name+"\n", 4000)
			out, errOut, code = run(t, 20*time.Second, strings.NewReader(data), bin, pr.args("127.0.0.1", splitPort(t, ea))...)
			if code != 0 || out != data {
				t.Errorf("%s to serve --echo: exit %d, %d bytes back of %d, stderr %q", pr.name, code, len(out), len(data), errOut)
			}
			for _, p := range []*proc{greet, echo} {
				p.Stderr.Wait(t, reGot, 10*time.Second)
				p.Signal(sigTERM)
				if c := p.Exit(10 * time.Second); c != 0 {
					t.Errorf("serve exit %d; %s", c, describe(p))
				}
			}
		})
	}
}

// sockit connect to "nc -l" and "ncat -l": the listener sends first, then
// sockit connect sends its standard input, reaches its end and half-closes;
// the listener gets every byte and the end of input, closes, and sockit
// connect exits 0 with the listener's bytes on stdout.
func TestConnectToPeerListeners(t *testing.T) {
	type peer struct {
		name      string
		args      func(host, port string) []string
		accepted  *regexp.Regexp
		listening *regexp.Regexp
	}
	peers := []peer{
		{"nc", func(h, p string) []string { return []string{"-v", "-l", "-N", h, p} },
			regexp.MustCompile(`^Connection received`), regexp.MustCompile(`^Listening on`)},
		{"ncat", func(h, p string) []string { return []string{"-v", "-l", h, p} },
			regexp.MustCompile(`^Ncat: Connection from .*:\d+`), regexp.MustCompile(`^Ncat: Listening on`)},
	}
	for _, pr := range peers {
		t.Run(pr.name, func(t *testing.T) {
			bin := testutil.NeedCommand(t, pr.name)
			hp, port := hostPort(freePort(t))
			lnIn, lnInW := io.Pipe()
			defer lnInW.Close()
			ln := start(t, lnIn, bin, pr.args("127.0.0.1", port)...)
			ln.Stderr.Wait(t, pr.listening, 10*time.Second)

			cIn, cInW := io.Pipe()
			defer cInW.Close()
			c := start(t, cIn, sockitBin(t), "connect", hp)
			ln.Stderr.Wait(t, pr.accepted, 10*time.Second)

			// Listener to sockit.
			if _, err := io.WriteString(lnInW, "from-listener\n"); err != nil {
				t.Fatal(err)
			}
			c.Stdout.Wait(t, regexp.MustCompile(`^from-listener$`), 10*time.Second)
			// sockit to listener, then sockit's half-close.
			payload := strings.Repeat("from-sockit\n", 1000)
			if _, err := io.WriteString(cInW, payload); err != nil {
				t.Fatal(err)
			}
			cInW.Close()
			if code := c.Exit(10 * time.Second); code != 0 {
				t.Fatalf("sockit connect exit %d; %s", code, describe(c))
			}
			lnInW.Close()
			if code := ln.Exit(10 * time.Second); code != 0 {
				t.Fatalf("%s exit %d; %s", pr.name, code, describe(ln))
			}
			if got := ln.Stdout.String() + "\n"; got != payload {
				t.Errorf("%s received %d bytes, want %d", pr.name, len(got), len(payload))
			}
			if got := c.Stdout.String(); got != "from-listener" {
				t.Errorf("sockit connect printed %q", got)
			}
		})
	}
}
