package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// dialer opens the load's connections, rotating over its source addresses.
type dialer struct {
	network, address string
	dialers          []net.Dialer // one per source address; one zero Dialer without
}

func newDialer(network, address string, sourceIPs int, timeout time.Duration) (*dialer, error) {
	d := &dialer{network: network, address: address}
	if sourceIPs <= 1 {
		d.dialers = []net.Dialer{{Timeout: timeout}}
		return d, nil
	}
	if network == "unix" {
		return nil, fmt.Errorf("loadgen: source addresses need a TCP address, not a Unix socket")
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() || !ip.IsLoopback() {
		return nil, fmt.Errorf("loadgen: source addresses need an IPv4 loopback server address (127.x.x.x), not %q", host)
	}
	if sourceIPs > 1<<24-2 {
		return nil, fmt.Errorf("loadgen: at most %d source addresses", 1<<24-2)
	}
	src := netip.MustParseAddr("127.0.0.1")
	for range sourceIPs {
		d.dialers = append(d.dialers, net.Dialer{
			Timeout:   timeout,
			LocalAddr: &net.TCPAddr{IP: src.AsSlice()},
			Control:   bindNoPort,
		})
		src = src.Next()
	}
	return d, nil
}

// dial opens connection number i (which picks the source address).
func (d *dialer) dial(ctx context.Context, i int) (net.Conn, error) {
	dd := &d.dialers[i%len(d.dialers)]
	return dd.DialContext(ctx, d.network, d.address)
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT where the system has it: binding
// a source address then leaves the port to connect(2), which may reuse a
// port towards different destinations, instead of reserving one at bind(2).
func bindNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = setBindNoPort(int(fd)) })
	if err != nil {
		return err
	}
	return serr
}
