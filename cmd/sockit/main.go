// Command sockit is a socket toolkit: the tutorial's greeting server and
// client, a relay joining any two endpoints, and an ncat-compatible front end.
// Run "sockit --help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"sockit/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
