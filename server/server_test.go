package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/server"
)

func newLogger() (*slog.Logger, *testutil.Buffer) {
	var b testutil.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// start serves ln with srv and returns a channel with Serve's result.
func start(srv *server.Server, ln net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return done
}

func TestShutdownLetsConnectionsFinish(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := &server.Server{Handler: server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		entered <- struct{}{}
		<-release
		_, err := io.WriteString(c, "done\n")
		return err
	})}
	ln := listen(t)
	served := start(srv, ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	// The listener is closed: new clients are refused.
	if c2, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c2.Close()
		t.Fatal("dial after Shutdown succeeded")
	}
	if n := srv.ActiveConns(); n != 1 {
		t.Fatalf("ActiveConns = %d during shutdown, want 1", n)
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "done\n" {
		t.Fatalf("in-flight client read %q", got)
	}
}

func TestShutdownDeadlineClosesTheRest(t *testing.T) {
	logger, logs := newLogger()
	srv := &server.Server{Logger: logger, Handler: server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		_, err := io.Copy(io.Discard, c) // ends when the server closes c
		return err
	})}
	ln := listen(t)
	served := start(srv, ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testutil.Eventually(t, 5*time.Second, "connection tracked", func() bool { return srv.ActiveConns() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	<-served
	if n := srv.ActiveConns(); n != 0 {
		t.Fatalf("ActiveConns = %d after Shutdown, want 0", n)
	}
	// The closing is the shutdown's own doing: no error is logged with it.
	if got := logs.String(); !strings.Contains(got, "reason=server-shutdown") || strings.Contains(got, "use of closed") {
		t.Errorf("log of the connection the shutdown closed:\n%s", got)
	}
}

func TestMaxConnsRefusesAndLogs(t *testing.T) {
	logger, logs := newLogger()
	hold := make(chan struct{})
	defer close(hold)
	srv := &server.Server{MaxConns: 1, Logger: logger, Handler: server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		io.WriteString(c, "hi\n")
		<-hold
		return nil
	})}
	ln := listen(t)
	start(srv, ln)
	defer srv.Close()
	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := io.ReadFull(first, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.Read(make([]byte, 8)); err == nil {
		t.Fatalf("connection over --max-conns read %d bytes", n)
	}
	testutil.Eventually(t, 5*time.Second, "refusal logged", func() bool {
		return strings.Contains(logs.String(), "reason=max-conns")
	})
}

func TestPanicInHandlerIsContained(t *testing.T) {
	logger, logs := newLogger()
	srv := &server.Server{Logger: logger, Handler: server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		buf := make([]byte, 1)
		c.Read(buf)
		if buf[0] == 'p' {
			panic("boom")
		}
		_, err := c.Write([]byte("ok"))
		return err
	})}
	ln := listen(t)
	start(srv, ln)
	defer srv.Close()
	for _, send := range []string{"p", "x"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(send))
		got, _ := io.ReadAll(c)
		c.Close()
		if want := map[string]string{"p": "", "x": "ok"}[send]; string(got) != want {
			t.Fatalf("sent %q, read %q, want %q", send, got, want)
		}
	}
	if !strings.Contains(logs.String(), "reason=panic") {
		t.Fatalf("panic not logged: %s", logs)
	}
}

// flakyListener fails Accept with the given errors before handing out
// connections from the real listener.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func TestAcceptErrorsBackOffAndRetry(t *testing.T) {
	logger, logs := newLogger()
	accErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: fmt.Errorf("accept4: %w", errno)}
	}
	ln := &flakyListener{Listener: listen(t), errs: []error{
		accErr(syscall.EMFILE), accErr(syscall.ENFILE), accErr(syscall.ECONNABORTED), accErr(syscall.EMFILE),
	}}
	srv := &server.Server{Logger: logger, Handler: server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
		_, err := io.WriteString(c, "hello")
		return err
	})}
	served := start(srv, ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "hello" {
		t.Fatalf("read %q after accept errors", got)
	}
	out := logs.String()
	if n := strings.Count(out, "accept failed"); n != 4 {
		t.Fatalf("logged %d accept failures, want 4:\n%s", n, out)
	}
	for _, want := range []string{"retry_in=5ms", "retry_in=10ms", "retry_in=20ms", "retry_in=40ms", "too many open files"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	srv.Close()
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
}

func TestServeAfterShutdown(t *testing.T) {
	srv := &server.Server{Handler: server.HandlerFunc(func(context.Context, net.Conn) error { return nil })}
	srv.Close()
	if err := srv.Serve(listen(t)); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve after Close = %v", err)
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) server.Middleware {
		return func(next server.Handler) server.Handler {
			return server.HandlerFunc(func(ctx context.Context, c net.Conn) error {
				order = append(order, name)
				return next.ServeConn(ctx, c)
			})
		}
	}
	h := server.Chain(server.HandlerFunc(func(context.Context, net.Conn) error {
		order = append(order, "handler")
		return nil
	}), mw("outer"), mw("inner"))
	h.ServeConn(context.Background(), nil)
	if got := strings.Join(order, ","); got != "outer,inner,handler" {
		t.Fatalf("order %s", got)
	}
}

func TestReasonOf(t *testing.T) {
	tests := []struct {
		err  error
		want server.ClosedReason
	}{
		{nil, server.ReasonClientClosed},
		{io.EOF, server.ReasonClientClosed},
		{fmt.Errorf("read: %w", io.EOF), server.ReasonClientClosed},
		{server.WithReason(server.ReasonDenied, errors.New("no")), server.ReasonDenied},
		{context.Canceled, server.ReasonServerShutdown},
		{net.ErrClosed, server.ReasonServerShutdown},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, server.ReasonReset},
		{syscall.EPIPE, server.ReasonReset},
		{errors.New("other"), server.ReasonError},
	}
	for _, tt := range tests {
		if got := server.ReasonOf(tt.err); got != tt.want {
			t.Errorf("ReasonOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
	if server.WithReason(server.ReasonDenied, nil) != nil {
		t.Error("WithReason(nil) is not nil")
	}
}
