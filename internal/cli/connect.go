package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"sockit/endpoint/stdio"
	"sockit/relay"
	"sockit/service"
)

type connectOptions struct {
	dial        dialFlags
	idleTimeout time.Duration
}

// datagramReplyWait is how long a datagram client waits for more replies once
// standard input is exhausted, when --idle-timeout is not given.
const datagramReplyWait = 2 * time.Second

func newConnectCmd(env *Env) *cobra.Command {
	var o connectOptions
	cmd := &cobra.Command{
		Use:   "connect [ADDRESS]",
		Short: "Connect to a server and join it to stdin/stdout (the tutorial's client)",
		Long: `Connect dials ADDRESS (default localhost:12345) and joins the connection to
standard input and output full-duplex: what arrives is written to stdout byte
for byte; stdin is sent. At the end of stdin the socket's write side is
half-closed and sockit keeps reading until the server closes, then exits 0.

Over UDP or a Unix datagram socket, each line of stdin is sent as one
datagram and every reply is printed; after the end of stdin sockit waits for
replies until none has come for --idle-timeout (default 2s).`,
		Example: `  sockit connect
  echo hello | sockit connect 127.0.0.1:7
  sockit connect udp://[::1]:12345`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			return runConnect(cmd.Context(), env, &o, arg)
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 0, "give up after this long with no data either way (0: never; datagrams: 2s after stdin ends)")
	o.dial.register(fs)
	return cmd
}

func runConnect(ctx context.Context, env *Env, o *connectOptions, arg string) error {
	a, err := parseAddr(arg, "localhost:12345")
	if err != nil {
		return err
	}
	conn, err := o.dial.dialer(env, a)(ctx)
	if err != nil {
		return err
	}
	if service.IsDatagram(conn) {
		return datagramClient(ctx, env, conn, o.idleTimeout)
	}
	return joinStdio(ctx, env, conn, o.idleTimeout)
}

// joinStdio joins conn with stdin and stdout until the peer closes.
func joinStdio(ctx context.Context, env *Env, conn net.Conn, idle time.Duration) error {
	_, err := relay.Pipe(ctx, stdio.New(env.Stdin, env.Stdout), conn, relay.Options{IdleTimeout: idle, EndWithB: true})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", conn.RemoteAddr(), err)
	}
	return nil
}

// datagramClient sends each line of stdin as a datagram and prints every
// reply, waiting up to wait for more replies once stdin is exhausted.
func datagramClient(ctx context.Context, env *Env, conn net.Conn, wait time.Duration) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if wait <= 0 {
		wait = datagramReplyWait
	}
	recvErr := make(chan error, 1)
	stdinDone := make(chan struct{})
	go func() {
		buf := make([]byte, 64*1024)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				recvErr <- err
				return
			}
			if _, err := env.Stdout.Write(buf[:n]); err != nil {
				recvErr <- err
				return
			}
			select {
			case <-stdinDone:
				conn.SetReadDeadline(time.Now().Add(wait))
			default:
			}
		}
	}()
	sendErr := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(env.Stdin, 64*1024)
		for {
			line, err := r.ReadSlice('\n')
			if len(line) > 0 {
				if _, werr := conn.Write(line); werr != nil {
					sendErr <- werr
					return
				}
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				sendErr <- err
				return
			}
		}
	}()
	select {
	case err := <-sendErr:
		if err != nil {
			return fmt.Errorf("send to %s: %w", conn.RemoteAddr(), err)
		}
		close(stdinDone)
		conn.SetReadDeadline(time.Now().Add(wait))
	case err := <-recvErr:
		return datagramEnd(ctx, conn, err)
	}
	return datagramEnd(ctx, conn, <-recvErr)
}

func datagramEnd(ctx context.Context, conn net.Conn, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("receive from %s: %w", conn.RemoteAddr(), err)
}
