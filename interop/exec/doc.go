// Package execinterop holds the end-to-end tests of sockit's exec endpoints
// (issue 3): the real sockit binary running programs for connections, with
// OpenBSD nc, ncat and Go clients on loopback: a relay to exec:cat is an echo
// server, the child sees the connection in its environment (under sockit's
// and ncat's names, compared with ncat's own --sh-exec), its exit status is
// logged and a child that ignores its input closing is killed after --grace.
//
// The package has no code of its own; run it with
//
//	go test -race ./interop/exec/
package execinterop
