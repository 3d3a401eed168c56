// Package metrics defines the small interfaces sockit's services report
// measurements through. It imports nothing: implementations live elsewhere
// (metrics/prom exports them to Prometheus), and Nop discards them.
package metrics

// Broker receives a message broker's measurements. Implementations must be
// safe for concurrent use and cheap: the broker calls them on its hot path.
type Broker interface {
	// ClientJoined counts a client that connected.
	ClientJoined()
	// ClientLeft counts a client that went away, with the reason its
	// connection ended ("client-closed", "slow-consumer", ...).
	ClientLeft(reason string)
	// Received counts one message of n bytes read from a local client
	// (source "local") or from another instance (source "cluster").
	Received(source string, n int)
	// Delivered counts msgs messages totalling n bytes written to clients.
	Delivered(msgs, n int)
	// Dropped counts one thing dropped for reason: a client dropped as a
	// slow consumer, or a message the cluster link could not carry.
	Dropped(reason string)
}

// Nop is a Broker that discards everything.
type Nop struct{}

var _ Broker = Nop{}

// ClientJoined does nothing.
func (Nop) ClientJoined() {}

// ClientLeft does nothing.
func (Nop) ClientLeft(string) {}

// Received does nothing.
func (Nop) Received(string, int) {}

// Delivered does nothing.
func (Nop) Delivered(int, int) {}

// Dropped does nothing.
func (Nop) Dropped(string) {}
