//go:build !linux

package loadgen

import (
	"context"
	"time"
)

type rawGreeter struct{}

func newRawGreeter(network, address string, sourceIPs int, timeout time.Duration) *rawGreeter {
	return nil
}

func (g *rawGreeter) greet(ctx context.Context, i int, buf []byte, deadline time.Time) (int, error) {
	panic("unreachable")
}
