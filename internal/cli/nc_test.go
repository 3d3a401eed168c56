package cli

import (
	"testing"
	"time"
)

func TestParseNcatTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"500ms", 500 * time.Millisecond, true},
		{"3s", 3 * time.Second, true},
		{"2m", 2 * time.Minute, true},
		{"1h", time.Hour, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"abc", 0, false},
		{"", 0, false},
		{"ms", 0, false},
		{"1d", 0, false},
		{"3000000", 0, false},
	}
	for _, tt := range tests {
		got, err := parseNcatTime(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseNcatTime(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
