package foundation

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"sockit/internal/testutil"
)

// 1,000 clients connect at once to a sockit serve child process; every one
// gets the whole greeting and none fails.
func TestThousandConcurrentClients(t *testing.T) {
	const clients = 1000
	srv, address := sockit(t, "serve", "127.0.0.1:0")
	ctx := testutil.Context(t, 60*time.Second)
	var (
		wg    sync.WaitGroup
		ready sync.WaitGroup
		mu    sync.Mutex
		fails []string
	)
	start := make(chan struct{})
	ready.Add(clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			if err := greetOnce(ctx, address); err != nil {
				mu.Lock()
				fails = append(fails, fmt.Sprintf("client %d: %v", i, err))
				mu.Unlock()
			}
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d of %d clients failed, first: %s", len(fails), clients, fails[0])
	}
	testutil.Eventually(t, 10*time.Second, "1000 connection lines", func() bool { return srv.Stderr.Count(reGot) == clients })
	srv.Signal(sigTERM)
	if c := srv.Exit(10 * time.Second); c != 0 {
		t.Fatalf("serve exit %d; %s", c, describe(srv))
	}
}

// A client that sends without ever reading stalls only itself: once its
// echo has filled both socket buffers, other clients are still served at
// once.
func TestStuckClientDoesNotDelayOthers(t *testing.T) {
	srv, address := sockit(t, "serve", "127.0.0.1:0", "--echo")
	stuck, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	// Write until the kernel pushes back: the server's echo is blocked.
	chunk := make([]byte, 64*1024)
	var sent int
	for sent < 256<<20 {
		stuck.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := stuck.Write(chunk)
		sent += n
		if err != nil {
			break
		}
	}
	t.Logf("stuck client wrote %d KiB before blocking", sent>>10)
	for i := range 20 {
		c, r := dialEcho(t, address)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		echo(t, c, r, fmt.Sprintf("client %d\n", i))
		c.Close()
	}
	stuck.Close()
	srv.Signal(sigTERM)
	if c := srv.Exit(10 * time.Second); c != 0 {
		t.Fatalf("serve exit %d; %s", c, describe(srv))
	}
}

// greetOnce connects, reads to the end and checks the greeting.
func greetOnce(ctx context.Context, address string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != greeting {
		return fmt.Errorf("got %q", b)
	}
	return nil
}
