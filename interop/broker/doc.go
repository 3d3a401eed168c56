// Package broker holds the end-to-end acceptance tests of sockit broker
// (issue 6): several sockit instances in one test process joined through an
// embedded NATS server, 10,000 clients against one instance (the broker and
// the clients in child processes, see fanclient), and ncat as a peer.
//
// Run it with
//
//	go test -race ./interop/broker/
package broker
