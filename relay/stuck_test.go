package relay_test

import (
	"errors"
	"testing"
	"time"

	"sockit/internal/testutil"
	"sockit/relay"
)

// A destination that stops reading blocks its direction in a write, where
// no read deadline can see it; the idle timeout still ends the pipe once no
// byte moves either way.
func TestPipeIdleTimeoutStuckDestination(t *testing.T) {
	ctx := testutil.Context(t, 20*time.Second)
	const idle = 200 * time.Millisecond
	outerA, outerB, result := relayed(t, ctx, relay.Options{IdleTimeout: idle})
	defer outerA.Close()
	defer outerB.Close() // never read: the a-to-b copy blocks writing to it
	chunk := make([]byte, 64*1024)
	outerA.SetWriteDeadline(time.Now().Add(15 * time.Second))
	begin := time.Now()
	for {
		if _, err := outerA.Write(chunk); err != nil {
			break // the pipe closed its side
		}
	}
	select {
	case r := <-result:
		if !errors.Is(r.err, relay.ErrIdleTimeout) {
			t.Fatalf("Pipe returned %v, want ErrIdleTimeout", r.err)
		}
		if d := time.Since(begin); d > 10*idle+time.Second {
			t.Errorf("ended after %v with an idle timeout of %v", d, idle)
		}
	case <-ctx.Done():
		t.Fatal("Pipe never ended")
	}
}
