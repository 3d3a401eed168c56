package ncat

import (
	"io"
	"sync"
)

// crlf translates bare LF to CRLF in the bytes read from standard input
// (ncat -C). A LF already preceded by CR is left alone, across reads too.
type crlf struct{ lastCR bool }

// translate returns p with every bare LF turned into CRLF.
func (c *crlf) translate(p []byte) []byte {
	out := make([]byte, 0, len(p)+8)
	for _, b := range p {
		if b == '\n' && !c.lastCR {
			out = append(out, '\r')
		}
		out = append(out, b)
		c.lastCR = b == '\r'
	}
	return out
}

// Telnet command bytes (RFC 854).
const (
	telnetIAC  = 255
	telnetDONT = 254
	telnetDO   = 253
	telnetWONT = 252
	telnetWILL = 251
	telnetSB   = 250
	telnetSE   = 240
)

// telnet finds the Telnet negotiation in the bytes a server sends and
// produces the refusals ncat -t answers with: WONT to every DO, DONT to every
// WILL. Like ncat, it leaves the bytes themselves as they are. It keeps its state across reads, since a command may be split between
// two of them.
//
// It is hand-written: the protocol needed here is RFC 854's option
// negotiation only, a few states, and the Go Telnet libraries are whole
// clients or servers that want to own the connection.
type telnet struct {
	state byte // 0: data; telnetIAC: after IAC; DO/DONT/WILL/WONT: awaiting option; telnetSB: in subnegotiation; 1: IAC inside subnegotiation
}

// filter returns the replies to send back for the negotiation in p.
func (t *telnet) filter(p []byte) (reply []byte) {
	for _, b := range p {
		switch t.state {
		case 0:
			if b == telnetIAC {
				t.state = telnetIAC
			}
		case telnetIAC:
			switch b {
			case telnetIAC:
				t.state = 0 // an escaped 0xFF
			case telnetDO, telnetDONT, telnetWILL, telnetWONT:
				t.state = b
			case telnetSB:
				t.state = telnetSB
			default:
				t.state = 0 // a two-byte command (NOP, GA...): drop it
			}
		case telnetDO:
			reply = append(reply, telnetIAC, telnetWONT, b)
			t.state = 0
		case telnetWILL:
			reply = append(reply, telnetIAC, telnetDONT, b)
			t.state = 0
		case telnetDONT, telnetWONT:
			t.state = 0
		case telnetSB:
			if b == telnetIAC {
				t.state = 1
			}
		case 1:
			if b == telnetSE {
				t.state = 0
			} else {
				t.state = telnetSB
			}
		}
	}
	return reply
}

// recorder writes the session's bytes, both directions, to the -o and -x
// files. It is safe for concurrent use.
type recorder struct {
	mu  sync.Mutex
	raw io.Writer
	hex io.Writer
}

func newRecorder(raw, hexOut io.Writer) *recorder {
	if raw == nil && hexOut == nil {
		return nil
	}
	return &recorder{raw: raw, hex: hexOut}
}

// record writes p, one read's bytes, to the output files; a nil recorder
// does nothing.
func (r *recorder) record(p []byte) {
	if r == nil || len(p) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.raw != nil {
		r.raw.Write(p)
	}
	if r.hex != nil {
		r.hex.Write(hexDump(p))
	}
}

// close is kept for symmetry with the files' lifetime; the dump has no
// partial line to flush.
func (r *recorder) close() {}

// hexDump formats p as ncat -x does, one block per read, offsets from 0:
//
//	0000   73 65 72 76 65 72 20 73  61 79 73 20 68 65 6c 6c  server.says.hell
//
// encoding/hex.Dumper's layout differs (8-digit offsets, bars), and ncat's
// dump restarts at each read, so the few lines are written here.
func hexDump(p []byte) []byte {
	var b []byte
	const digits = "0123456789abcdef"
	for off := 0; off < len(p); off += 16 {
		line := p[off:min(off+16, len(p))]
		b = append(b, digits[off>>12&15], digits[off>>8&15], digits[off>>4&15], digits[off&15], ' ', ' ', ' ')
		for i := range 16 {
			if i < len(line) {
				b = append(b, digits[line[i]>>4], digits[line[i]&15], ' ')
			} else {
				b = append(b, ' ', ' ', ' ')
			}
			if i == 7 {
				b = append(b, ' ')
			}
		}
		b = append(b, ' ')
		for i := range 16 {
			switch {
			case i >= len(line):
				b = append(b, ' ')
			case line[i] > ' ' && line[i] < 0x7f:
				b = append(b, line[i])
			default:
				b = append(b, '.')
			}
		}
		b = append(b, '\n')
	}
	return b
}
