package endpoint

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// setBacklog calls listen(2) again on ln's socket with n: Linux adjusts the
// queue length of a socket that is already listening.
func setBacklog(ln net.Listener, n int) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("%w: listener has no socket", ErrUnsupported)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := raw.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), n) }); err != nil {
		return err
	}
	return lerr
}

// removeStaleSocket removes a Unix socket file that nobody listens on any
// more, so that a restarted server can bind it again. A live socket is left
// alone (the bind then fails with "address already in use") and so is a file
// that is not a socket.
func removeStaleSocket(ctx context.Context, network, path string) error {
	if path == "" || path[0] == '@' {
		return nil // abstract sockets have no file
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if network == "unix" {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			c.Close()
			return nil // alive: let bind report it
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
	} else {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
		if err == nil {
			c.Close()
			return nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
	}
	return os.Remove(path)
}

func removeSocketFile(path string) {
	if path != "" && path[0] != '@' {
		os.Remove(path)
	}
}

// dialUnixgram connects a Unix datagram socket to path. It binds the client
// to a fresh abstract address first: a server can only answer a datagram
// whose sender has a name.
func dialUnixgram(path string) (*net.UnixConn, error) {
	local := &net.UnixAddr{
		Name: "@sockit-" + strconv.Itoa(os.Getpid()) + "-" + rand.Text(),
		Net:  "unixgram",
	}
	return net.DialUnix("unixgram", local, &net.UnixAddr{Name: path, Net: "unixgram"})
}
