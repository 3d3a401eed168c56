// Package testutil holds helpers shared by sockit's tests: bounded polling
// for readiness and the like. It is imported by tests only.
package testutil

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Eventually polls cond every few milliseconds until it returns true or
// timeout passes, then fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, msg)
		}
		time.Sleep(delay) // polling interval, not a guess at readiness
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// WaitDial polls until network/address accepts a connection, or fails the
// test after timeout.
func WaitDial(t testing.TB, network, address string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "a listener on "+address, func() bool {
		c, err := net.DialTimeout(network, address, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// Context returns a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// UDPEcho runs a UDP echo server on ip until the test ends and returns its
// address; it skips the test when ip cannot be bound (no IPv6, say).
func UDPEcho(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Skipf("UDP on %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Serve listens on network and address (":0" ports pick a free one) until
// the test ends and runs handle for each connection in its own goroutine,
// closing the connection when handle returns.
func Serve(t testing.TB, network, address string, handle func(c net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln
}
