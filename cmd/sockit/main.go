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
	// The first SIGINT or SIGTERM cancels ctx: servers stop accepting and
	// let connections finish within --grace. The signals' default action
	// comes back first, so a second one stops the process at once.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel()
	}()
	code := cli.Main(ctx, os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
