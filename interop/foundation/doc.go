// Package foundation holds the end-to-end acceptance tests of sockit's
// foundation (issue 2): they run the real sockit binary as a child process
// against the seed tutorial's Python programs and real peers (OpenBSD nc,
// ncat, python3), and drive its fault paths (EMFILE, signals, bad input).
//
// The package has no code of its own; run it with
//
//	go test -race ./interop/foundation/
package foundation
