package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"sockit/access"
	"sockit/endpoint/proxyheader"
	"sockit/internal/testutil"
	"sockit/middleware"
	"sockit/server"
	"sockit/service"
)

// start serves a greeting behind mw on loopback and returns its address and
// log.
func start(t *testing.T, mw ...server.Middleware) (string, *testutil.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := new(testutil.Buffer)
	logger := slog.New(slog.NewTextHandler(logs, nil))
	h := server.Chain(service.Greet{Message: []byte("hi\n")}, append(mw, middleware.LogConnections(logger))...)
	srv := &server.Server{Handler: h, Logger: logger}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), logs
}

// greet connects from source (empty: any) and returns what the server sent
// before closing.
func greet(t *testing.T, source, address string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	c, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func rules(t *testing.T, allow, deny []string) *access.List {
	t.Helper()
	l, err := access.Build(context.Background(), nil, allow, deny, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// --allow 127.0.0.1 --deny 127.0.0.0/8 with sources 127.0.0.1 and 127.0.0.2:
// deny wins, so both are refused, each log line naming the rule; with the
// allow rule alone only 127.0.0.1 gets in.
func TestAllowDenyFromTwoSources(t *testing.T) {
	addr, logs := start(t, middleware.Allow(rules(t, []string{"127.0.0.1"}, []string{"127.0.0.0/8"})))
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		if got := greet(t, src, addr); got != "" {
			t.Errorf("source %s got %q through --deny 127.0.0.0/8", src, got)
		}
	}
	testutil.Eventually(t, 5*time.Second, "two refusals logged", func() bool {
		return strings.Count(logs.String(), `rule \"deny 127.0.0.0/8\"`) == 2
	})

	addr, logs = start(t, middleware.Allow(rules(t, []string{"127.0.0.1"}, nil)))
	if got := greet(t, "127.0.0.1", addr); got != "hi\n" {
		t.Errorf("allowed source got %q", got)
	}
	if got := greet(t, "127.0.0.2", addr); got != "" {
		t.Errorf("127.0.0.2 got %q, not in the allow list", got)
	}
	testutil.Eventually(t, 5*time.Second, "the refusal logged", func() bool {
		return strings.Contains(logs.String(), "remote=127.0.0.2:") && strings.Contains(logs.String(), "not in the allow list")
	})
	if strings.Contains(logs.String(), "Got connection from 127.0.0.2") {
		t.Errorf("refused source reached the handler:\n%s", logs)
	}
}

func TestRatePerSource(t *testing.T) {
	addr, logs := start(t, middleware.Rate(2, 0)) // 2/s, burst 2
	okCount := 0
	start := time.Now()
	for range 5 {
		if greet(t, "127.0.0.1", addr) == "hi\n" {
			okCount++
		}
	}
	if most := 2 + int(2*time.Since(start).Seconds()) + 1; okCount < 2 || okCount > most || okCount == 5 && time.Since(start) < time.Second {
		t.Fatalf("%d of 5 connections in %v admitted at 2/s", okCount, time.Since(start))
	}
	if got := greet(t, "127.0.0.2", addr); got != "hi\n" {
		t.Fatalf("another source is limited too: %q", got)
	}
	testutil.Eventually(t, 5*time.Second, "refusals logged", func() bool {
		return strings.Contains(logs.String(), `rate 2/s`)
	})
}

func TestMaxConnsPerIP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := new(testutil.Buffer)
	logger := slog.New(slog.NewTextHandler(logs, nil))
	srv := &server.Server{Handler: server.Chain(service.Echo{}, middleware.MaxConnsPerIP(2)), Logger: logger}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	echoes := func(c net.Conn) bool {
		if _, err := c.Write([]byte("x")); err != nil {
			return false
		}
		b := make([]byte, 1)
		_, err := io.ReadFull(c, b)
		return err == nil
	}
	a, b := dial("127.0.0.1"), dial("127.0.0.1")
	if !echoes(a) || !echoes(b) {
		t.Fatal("the first two connections are not served")
	}
	if echoes(dial("127.0.0.1")) {
		t.Fatal("a third connection from 127.0.0.1 is served")
	}
	if !echoes(dial("127.0.0.2")) {
		t.Fatal("127.0.0.2 is refused")
	}
	a.Close()
	testutil.Eventually(t, 5*time.Second, "a slot to free up", func() bool {
		c := dial("127.0.0.1")
		defer c.Close()
		return echoes(c)
	})
	if !strings.Contains(logs.String(), "max-conns-per-ip 2") {
		t.Errorf("refusal not logged with its rule:\n%s", logs)
	}
}

// Behind --proxy-protocol the log and the access rules see the client the
// header names; a missing header and a stalled one are refused and logged.
func TestProxyProtocolRealClient(t *testing.T) {
	addr, logs := start(t, middleware.ProxyProtocol(300*time.Millisecond), middleware.Allow(rules(t, nil, []string{"203.0.113.66"})))
	send := func(src string, extra string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if src != "" {
			proxyheader.Write(c, 2, &net.TCPAddr{IP: net.ParseIP(src), Port: 4242}, &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 80})
		}
		io.WriteString(c, extra)
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if got := send("203.0.113.7", ""); got != "hi\n" {
		t.Fatalf("proxied client got %q", got)
	}
	if got := send("203.0.113.66", ""); got != "" {
		t.Fatalf("denied real client got %q", got)
	}
	if got := send("", "GET / HTTP/1.0\r\n\r\n"); got != "" {
		t.Fatalf("headerless client got %q", got)
	}
	if got := send("", ""); got != "" { // slowloris: nothing at all
		t.Fatalf("silent client got %q", got)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	testutil.Eventually(t, 5*time.Second, "all four connections logged", func() bool {
		s := logs.String()
		return strings.Contains(s, "Got connection from 203.0.113.7:4242") &&
			strings.Contains(s, `refused 203.0.113.66 by rule \"deny 203.0.113.66\"`) &&
			strings.Contains(s, "missing PROXY protocol header") &&
			strings.Contains(s, "no PROXY protocol header in time")
	})
}
