package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"sockit/internal/cli"
	"sockit/internal/testutil"
)

// TestMain lets testscript run this test binary as the sockit command (and as
// nc and ncat, which select the ncat front end by argv[0]).
func TestMain(m *testing.M) {
	run := func() {
		ctx, cancel := cli.SignalContext()
		code := cli.Main(ctx, os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		cancel()
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){"sockit": run, "ncat": run, "nc": run})
}

// TestScripts runs the command-line tests in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		RequireExplicitExec: false,
		Deadline:            time.Now().Add(5 * time.Minute),
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport": cmdFreePort,
			"waitconn": cmdWaitConn,
		},
	})
}

// cmdFreePort sets each named environment variable to a free port (TCP and
// UDP both free on 127.0.0.1).
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: freeport NAME...")
	}
	for _, name := range args {
		port, err := testutil.PickFreePort()
		ts.Check(err)
		ts.Setenv(name, strconv.Itoa(port))
	}
}

// cmdWaitConn waits (at most 10 s) until a stream listener accepts:
// "waitconn HOST:PORT" or "waitconn unix PATH".
func cmdWaitConn(ts *testscript.TestScript, neg bool, args []string) {
	network, address := "tcp", ""
	switch len(args) {
	case 1:
		address = args[0]
	case 2:
		network, address = args[0], args[1]
	default:
		ts.Fatalf("usage: waitconn [NETWORK] ADDRESS")
	}
	deadline := time.Now().Add(10 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if network == "file" {
			if _, err := os.Stat(address); err == nil {
				return
			}
		} else if c, err := net.DialTimeout(network, address, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s", fmt.Sprintf("nothing listening on %s %s after 10s", network, address))
		}
		<-time.After(delay) // polling interval while waiting for readiness
	}
}
