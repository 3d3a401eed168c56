// Package foundation holds the end-to-end acceptance tests of sockit's
// foundation (issue 2): they run the real sockit binary as a child process
// against the seed tutorial's Python programs and real peers (OpenBSD nc,
// ncat, python3), and drive its fault paths (EMFILE, signals, bad input).
//
// The package has no code of its own; run it with
//
//	go test -race ./interop/foundation/
//
// The tests build cmd/sockit from the tree (without -race, so the heavy
// tests run at full speed); SOCKIT_TEST_BINARY=/path/to/sockit runs them
// against another build instead. Missing peers skip their tests, except
// under CI=true. go test -bench . runs end-to-end benchmarks of the
// greeting and relay paths.
package foundation
