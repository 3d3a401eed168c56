//go:build !linux

package relay

import (
	"io"
	"net"
)

// Copy copies src to dst until src ends, as io.Copy does.
func Copy(dst, src net.Conn) (int64, error) { return io.Copy(dst, src) }
