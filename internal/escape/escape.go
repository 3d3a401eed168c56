// Package escape decodes the C-style escapes sockit accepts in text given on
// the command line (the --greeting flag): \n \r \t \0 \\ \xHH.
package escape

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadEscape is wrapped by every error Decode returns.
var ErrBadEscape = errors.New("bad escape")

// Decode returns s with its escapes replaced by the bytes they name. The error
// names the offending escape and its offset.
func Decode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("%w: trailing backslash at offset %d", ErrBadEscape, i)
		}
		i++
		switch s[i] {
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case '0':
			out = append(out, 0)
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("%w: \\x needs two hex digits at offset %d", ErrBadEscape, i-1)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("%w: \\x%s at offset %d: want two hex digits", ErrBadEscape, s[i+1:i+3], i-1)
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("%w: \\%c at offset %d", ErrBadEscape, s[i], i-1)
		}
	}
	return out, nil
}
