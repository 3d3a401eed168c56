package ncat

import (
	"encoding/hex"
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
	mu     sync.Mutex
	raw    io.Writer
	dumper io.WriteCloser
}

func newRecorder(raw, hexOut io.Writer) *recorder {
	if raw == nil && hexOut == nil {
		return nil
	}
	r := &recorder{raw: raw}
	if hexOut != nil {
		r.dumper = hex.Dumper(hexOut)
	}
	return r
}

// record writes p to the output files; a nil recorder does nothing.
func (r *recorder) record(p []byte) {
	if r == nil || len(p) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.raw != nil {
		r.raw.Write(p)
	}
	if r.dumper != nil {
		r.dumper.Write(p)
	}
}

// close flushes the hex dump's last line.
func (r *recorder) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dumper != nil {
		r.dumper.Close()
		r.dumper = nil
	}
}
