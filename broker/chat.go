package broker

import (
	"container/heap"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Chat mode follows ncat --chat (ncat 7.9x, checked against its output):
//
//	<announce> 127.0.0.1 is connected as <user5>.
//	<announce> already connected: 127.0.0.1 as <user4>.
//	<user4> hello\001
//	<announce> <user5> is disconnected.
//
// Both join lines go to every client, the newcomer included; the leave line
// goes to those who remain. Bytes other than printable ASCII, tab, CR and LF
// are shown as a backslash and three octal digits, as ncat does. ncat puts
// the "<userN> " prefix before each chunk it happens to read; sockit puts it
// before each line, which reads the same for typed input and stays readable
// when a client sends many lines at once.

// chatFramer turns one client's bytes into prefixed, escaped lines.
type chatFramer struct {
	prefix  []byte // "<userN> " or "<userN@INSTANCE> "
	partial []byte // an unterminated line, kept until its newline arrives
	maxLine int    // a partial line this long is sent without waiting
}

func newChatFramer(name string, maxLine int) *chatFramer {
	return &chatFramer{prefix: []byte("<" + name + "> "), maxLine: maxLine}
}

// userName returns the chat name of user number n: "userN", or
// "userN@INSTANCE" when the hub names its instance (a cluster, where every
// instance numbers its own users).
func userName(n int, instance string) string {
	if instance == "" {
		return "user" + strconv.Itoa(n)
	}
	return "user" + strconv.Itoa(n) + "@" + instance
}

// feed consumes p and returns the formatted complete lines it finishes, or
// nil when it finishes none. The returned slice is freshly allocated.
func (f *chatFramer) feed(p []byte) []byte {
	var out []byte
	for len(p) > 0 {
		i := slices.Index(p, '\n')
		if i < 0 {
			f.partial = append(f.partial, p...)
			if len(f.partial) >= f.maxLine {
				out = f.appendLine(out, f.partial)
				f.partial = f.partial[:0]
			}
			break
		}
		line := p[:i+1]
		p = p[i+1:]
		if len(f.partial) > 0 {
			f.partial = append(f.partial, line...)
			line = f.partial
		}
		out = f.appendLine(out, line)
		f.partial = f.partial[:0]
	}
	if cap(f.partial) > 2*f.maxLine {
		f.partial = nil // do not keep a huge buffer per idle client
	}
	return out
}

// flush returns the unterminated line left over, formatted, or nil.
func (f *chatFramer) flush() []byte {
	if len(f.partial) == 0 {
		return nil
	}
	out := f.appendLine(nil, f.partial)
	f.partial = nil
	return out
}

func (f *chatFramer) appendLine(dst, line []byte) []byte {
	dst = append(dst, f.prefix...)
	return appendVisible(dst, line)
}

// appendVisible appends p to dst with control characters and non-ASCII
// bytes made visible as \ooo, keeping tab, CR and LF.
func appendVisible(dst, p []byte) []byte {
	for _, c := range p {
		switch {
		case c >= 0x20 && c < 0x7f, c == '\n', c == '\r', c == '\t':
			dst = append(dst, c)
		default:
			dst = append(dst, '\\', '0'+c>>6, '0'+(c>>3)&7, '0'+c&7)
		}
	}
	return dst
}

// chatHost is how ncat names a client in notices: its IP address without
// the port; other kinds of address as they print.
func chatHost(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	if s == "" || s == "@" {
		return a.Network()
	}
	return s
}

func joinNotice(host, name string) []byte {
	return fmt.Appendf(nil, "<announce> %s is connected as <%s>.\n", host, name)
}

func leaveNotice(name string) []byte {
	return fmt.Appendf(nil, "<announce> <%s> is disconnected.\n", name)
}

// chatPeer is one entry of the "already connected" notice.
type chatPeer struct {
	host string
	user int // sorts the list
	name string
}

func alreadyNotice(peers []chatPeer) []byte {
	if len(peers) == 0 {
		return []byte("<announce> already connected: nobody.\n")
	}
	slices.SortFunc(peers, func(a, b chatPeer) int { return a.user - b.user })
	var b strings.Builder
	b.WriteString("<announce> already connected: ")
	for i, p := range peers {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s as <%s>", p.host, p.name)
	}
	b.WriteString(".\n")
	return []byte(b.String())
}

// userIDs hands out the lowest free user number, as ncat's numbers (its
// descriptor numbers) are reused lowest first.
type userIDs struct {
	next int
	free intHeap
}

func (u *userIDs) get() int {
	if len(u.free) > 0 {
		return heap.Pop(&u.free).(int)
	}
	u.next++
	return u.next - 1
}

func (u *userIDs) put(id int) { heap.Push(&u.free, id) }

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
