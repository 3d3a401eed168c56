// Command sockit is a socket toolkit: the tutorial's greeting server and
// client, a relay joining any two endpoints, and an ncat-compatible front end.
// Run "sockit --help" for the commands.
package main

import (
	"os"

	"sockit/internal/cli"
)

func main() {
	ctx, cancel := cli.SignalContext()
	code := cli.Main(ctx, os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
