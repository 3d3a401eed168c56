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
	srv.signal(sigTERM)
	if c := srv.exit(10 * time.Second); c != 0 {
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
