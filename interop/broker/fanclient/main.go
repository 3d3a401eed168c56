// Command fanclient is the load side of the 10,000-client broker test and
// of bench/broker.sh: it opens many client connections to a broker from one
// process (built without the race detector, so one process holds thousands
// of goroutines cheaply) and checks that every message reaches every client.
//
// Messages are fixed-size records (64 bytes, which divides the broker's
// 4 KiB reads, so records are never split between two senders' chunks):
//
//	K PP SSS NNNNNN ....\n     kind (M main, F flood), process, sender, sequence
//
// It prints "connected N" once all its clients are up, then obeys commands
// on stdin, one per line, so a test can pace the load across processes:
//
//	send M       each sender of this process sends one 64-byte record
//	send F       the first sender sends 64 records in one 4 KiB write
//	wait K N     wait until every reading client has N records of kind K
//	             (its own records count as received); print "ok K N"
//	bench M      each sender sends M records unpaced; wait for all and print
//	             "bench DELIVERED SECONDS" (needs -total)
//	stalled      print "stalled C of S": how many of the -stall clients
//	             (which never read) the broker has closed
//
// Every client checks that each sender's records arrive in order. Errors
// print "error ..." and exit 1.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const recordSize = 64

type config struct {
	addr        string
	n           int
	proc        int
	senders     int
	totalMain   int // records of a bench run, all processes together
	stall       int
	timeout     time.Duration
	dialWorkers int
}

type reader struct {
	conn     net.Conn
	sender   int             // index among this process's senders, or -1
	got      [2]atomic.Int64 // records received, by kind: main, flood
	sent     [2]atomic.Int64 // records sent, by kind
	bad      atomic.Int64
	firstBad atomic.Value
	lastSeq  map[int]int
}

func kindIndex(k byte) int {
	if k == 'F' {
		return 1
	}
	return 0
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "", "broker address HOST:PORT")
	flag.IntVar(&c.n, "n", 1000, "clients that read")
	flag.IntVar(&c.proc, "proc", 0, "this process's number (0-99)")
	flag.IntVar(&c.senders, "senders", 0, "how many of the clients also send")
	flag.IntVar(&c.totalMain, "total", 0, "bench: records all processes send together")
	flag.IntVar(&c.stall, "stall", 0, "extra clients that never read (small receive buffer)")
	flag.DurationVar(&c.timeout, "timeout", 90*time.Second, "give up after this long")
	flag.IntVar(&c.dialWorkers, "dial-workers", 64, "connections dialed at once")
	flag.Parse()
	if err := run(c, os.Stdin, os.Stdout); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
}

func run(c config, stdin io.Reader, stdout io.Writer) error {
	if c.addr == "" || c.n < 1 || c.senders > c.n || c.proc < 0 || c.proc > 99 {
		return fmt.Errorf("need -addr, -n >= 1, -senders <= -n, -proc 0-99")
	}
	deadline := time.Now().Add(c.timeout)
	readers, err := dialAll(c.addr, c.n, c.dialWorkers, nil)
	if err != nil {
		return err
	}
	stalled, err := dialAll(c.addr, c.stall, c.dialWorkers, smallRcvBuf)
	if err != nil {
		return err
	}
	for i, r := range readers {
		r.sender = -1
		if i < c.senders {
			r.sender = i
		}
		go r.read()
	}
	fmt.Fprintf(stdout, "connected %d\n", len(readers)+len(stalled))

	in := bufio.NewScanner(stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "send" && len(f) == 2 && (f[1] == "M" || f[1] == "F"):
			if err := send(c, readers, f[1][0], 1); err != nil {
				return err
			}
		case f[0] == "wait" && len(f) == 3:
			n, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return fmt.Errorf("wait: %w", err)
			}
			k := kindIndex(f[1][0])
			if err := waitAll(readers, deadline, func(r *reader) bool { return r.got[k].Load()+r.sent[k].Load() >= n }); err != nil {
				return fmt.Errorf("wait %s %d: %w", f[1], n, err)
			}
			if err := checkBad(readers); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "ok %s %d\n", f[1], n)
		case f[0] == "bench" && len(f) == 2:
			m, err := strconv.Atoi(f[1])
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			start := time.Now()
			if err := send(c, readers, 'M', m); err != nil {
				return err
			}
			n := int64(c.totalMain)
			if err := waitAll(readers, deadline, func(r *reader) bool { return r.got[0].Load()+r.sent[0].Load() >= n }); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			elapsed := time.Since(start)
			if err := checkBad(readers); err != nil {
				return err
			}
			var delivered int64
			for _, r := range readers {
				delivered += r.got[0].Load()
			}
			fmt.Fprintf(stdout, "bench %d %.6f\n", delivered, elapsed.Seconds())
		case f[0] == "stalled":
			fmt.Fprintf(stdout, "stalled %d of %d\n", closedCount(stalled), len(stalled))
		case f[0] == "quit":
			return nil
		default:
			return fmt.Errorf("unknown command %q", in.Text())
		}
	}
	return nil
}

func dialAll(addr string, n, workers int, control func(string, string, syscall.RawConn) error) ([]*reader, error) {
	rs := make([]*reader, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second, Control: control}
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil {
					return
				}
				conn, err := d.Dial("tcp", addr)
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("dial client %d: %w", i, err))
					return
				}
				rs[i] = &reader{conn: conn, lastSeq: map[int]int{}}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, err
	}
	return rs, nil
}

func smallRcvBuf(network, address string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}

// read counts r's records and checks each sender's come in order.
func (r *reader) read() {
	buf := make([]byte, 0, 8192)
	tmp := make([]byte, 4096)
	for {
		n, err := r.conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for len(buf) >= recordSize {
			r.record(buf[:recordSize])
			buf = buf[recordSize:]
		}
		buf = append(tmp[:0:0], buf...) // keep the partial record only
		if err != nil {
			return
		}
	}
}

func (r *reader) record(rec []byte) {
	kind := rec[0]
	proc, ok1 := digits(rec[1:3])
	sender, ok2 := digits(rec[3:6])
	seq, ok3 := digits(rec[6:12])
	if rec[recordSize-1] != '\n' || (kind != 'M' && kind != 'F') || !ok1 || !ok2 || !ok3 {
		r.fail(fmt.Sprintf("bad record %q", rec))
		return
	}
	key := int(kind)<<20 | proc<<10 | sender
	if last, ok := r.lastSeq[key]; ok && seq != last+1 || !ok && seq != 0 {
		r.fail(fmt.Sprintf("sender %c%d.%d: got %d after %d (seen before: %v)", kind, proc, sender, seq, last, ok))
	}
	r.lastSeq[key] = seq
	r.got[kindIndex(kind)].Add(1)
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func (r *reader) fail(msg string) {
	r.bad.Add(1)
	r.firstBad.CompareAndSwap(nil, msg)
}

func checkBad(rs []*reader) error {
	for i, r := range rs {
		if r.bad.Load() > 0 {
			return fmt.Errorf("client %d: %d bad records, first: %v", i, r.bad.Load(), r.firstBad.Load())
		}
	}
	return nil
}

// send has this process's senders send: for kind M, rounds records each,
// one record per write; for kind F, the first sender writes 64 records in
// one 4 KiB write, rounds times.
func send(c config, rs []*reader, kind byte, rounds int) error {
	senders, perWrite := c.senders, 1
	if kind == 'F' {
		senders, perWrite = min(c.senders, 1), 4096/recordSize
	}
	buf := make([]byte, 0, perWrite*recordSize)
	for range rounds {
		for s := range senders {
			r := rs[s]
			k := kindIndex(kind)
			buf = buf[:0]
			for range perWrite {
				seq := r.sent[k].Add(1) - 1
				buf = fmt.Appendf(buf, "%c%02d%03d%06d", kind, c.proc, s, seq)
				for len(buf)%recordSize != recordSize-1 {
					buf = append(buf, '.')
				}
				buf = append(buf, '\n')
			}
			if _, err := r.conn.Write(buf); err != nil {
				return fmt.Errorf("sender %d: %w", s, err)
			}
		}
	}
	return nil
}

func waitAll(rs []*reader, deadline time.Time, done func(*reader) bool) error {
	for {
		left := 0
		var example *reader
		for _, r := range rs {
			if !done(r) {
				left++
				example = r
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d clients incomplete (one has main=%d flood=%d)", left, example.got[0].Load(), example.got[1].Load())
		}
		time.Sleep(5 * time.Millisecond) // polling the readers' counters
	}
}

// closedCount reports how many stalled clients the broker has closed: it
// drains each with a short deadline and looks for the end of the stream.
func closedCount(rs []*reader) int {
	closed := 0
	buf := make([]byte, 64<<10)
	for _, r := range rs {
		r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, err := r.conn.Read(buf)
			if err != nil {
				if !os.IsTimeout(err) {
					closed++
				}
				break
			}
		}
	}
	return closed
}
