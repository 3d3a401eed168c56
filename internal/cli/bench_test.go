package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"sockit/bench/loadgen"
	"sockit/internal/testutil"
)

// TestBenchJSON runs "sockit bench greet --json" in-process and decodes
// its stdout.
func TestBenchJSON(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, loadgen.DefaultGreeting)
			c.Close()
		}
	}()
	ctx := testutil.Context(t, 30*time.Second)
	var stdout, stderr bytes.Buffer
	code := Main(ctx, "sockit", []string{"bench", "greet", ln.Addr().String(), "-n", "7", "-c", "2", "--json", "--progress", "always"},
		strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if res.Mode != "greet" || res.Ops != 7 || res.Errors != 0 || res.Latency.Count != 7 || res.Connections != 2 {
		t.Fatalf("result %+v", res)
	}
	// Progress goes to stderr, redrawn with \r, and is erased at the end.
	if s := stderr.String(); !strings.Contains(s, "\r") || !strings.Contains(s, "7 ok") {
		t.Errorf("stderr %q: want a progress line", s)
	}
	if strings.Contains(stdout.String(), "\r") {
		t.Error("progress on stdout")
	}
}
