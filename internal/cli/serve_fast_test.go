package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the lazyWriter's timer goroutine.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func TestLazyWriterBatchesWholeLines(t *testing.T) {
	var out lockedBuffer
	w := &lazyWriter{w: &out}
	var want strings.Builder
	for i := range 100 {
		line := "Got connection from 127.0.0.1:" + string(rune('0'+i%10)) + "\n"
		w.Write([]byte(line))
		want.WriteString(line)
	}
	w.Flush()
	out.mu.Lock()
	got, writes := out.b.String(), out.writes
	out.mu.Unlock()
	if got != want.String() {
		t.Fatalf("lazyWriter wrote %q", got)
	}
	if writes > 2 {
		t.Fatalf("100 lines took %d writes; want them batched", writes)
	}
	// A batch past the limit is written at once.
	big := strings.Repeat("x", lazyLimit) + "\n"
	w.Write([]byte(big))
	out.mu.Lock()
	n := out.b.Len()
	out.mu.Unlock()
	if n < len(got)+len(big) {
		t.Fatal("a full batch was held back")
	}
}
