package loadgen

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"64", 64, true},
		{"64B", 64, true},
		{"1k", 1024, true},
		{"256KiB", 256 << 10, true},
		{"2GiB", 2 << 30, true},
		{"1G", 1 << 30, true},
		{"3MB", 3e6, true},
		{"1TB", 1e12, true},
		{"", 0, false},
		{"KiB", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.5G", 0, false},
		{"1 G", 0, false},
		{"1GiBB", 0, false},
		{"9999999999TiB", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 13: "13B", 1024: "1KiB", 3 << 20: "3MiB", 2 << 30: "2GiB", 1<<20 + 1: "1048577B"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// FuzzParseSize: no panic, no negative result, and formatting a parsed size
// parses back to the same count.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64", "256KiB", "2GiB", "1TB", "-1", "", "1.5G", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		m, err := ParseSize(FormatSize(n))
		if err != nil || m != n {
			t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v", n, m, err)
		}
	})
}

func TestClassify(t *testing.T) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{opErr(syscall.ECONNREFUSED), KindRefused},
		{opErr(syscall.ECONNRESET), KindReset},
		{opErr(syscall.EPIPE), KindReset},
		{opErr(syscall.EADDRNOTAVAIL), KindAddrInUse},
		{opErr(syscall.EMFILE), KindFiles},
		{os.ErrDeadlineExceeded, KindTimeout},
		{io.ErrUnexpectedEOF, KindEarlyEOF},
		{mismatchf("x"), KindMismatch},
		{overlongf("x"), KindOverlong},
		{earlyEOFf("x"), KindEarlyEOF},
		{errors.New("odd"), KindOther},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
