// Package ncat is the differential test suite of "sockit nc": each scenario
// runs against Debian's ncat and against sockit invoked as ncat (through a
// symlink, so argv[0] picks the front end), and what the peers see must be
// the same: bytes, exit codes and the "Ncat: ..." messages that matter.
// Differences that are deliberate are listed in docs/ncat.md.
package ncat
