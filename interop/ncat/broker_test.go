package ncat

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

var reAdmitted = regexp.MustCompile(`(?m)^Ncat: Connection from 127\.0\.0\.1:\d+\.$`)

// TestBrokerTenThousandClients: "ncat -l --broker" (sockit through its
// ncat symlink, no race detector) with 10,000 clients in two fanclient
// processes: every message from a sender reaches every other client, in
// order, round after round. (ncat's own broker stops near 1,000 clients:
// select() limits it.) Dropping a client that stops reading is the same
// broker.Hub code and is shown by interop/broker's TestTenThousandClients.
func TestBrokerTenThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 clients: not in -short")
	}
	testutil.Context(t, 3*time.Minute)
	sockit := sockitPeer(t)
	fan := testutil.BuildFanclient(t)

	port := freePort(t)
	logPath := filepath.Join(t.TempDir(), "ncat.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	broker := exec.Command(sockit.bin, "-v", "-l", "--broker", "127.0.0.1", port)
	broker.Stdout, broker.Stderr = io.Discard, logFile
	broker.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-broker.Process.Pid, syscall.SIGKILL)
		broker.Wait()
	}()
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	testutil.Eventually(t, 10*time.Second, "the broker listening", func() bool {
		return strings.Contains(readLog(), "Ncat: Listening on 127.0.0.1:"+port)
	})

	const perProc, senders = 5000, 10
	addr := "127.0.0.1:" + port
	fans := []*testutil.Fanclient{
		testutil.StartFanclient(t, "fanclient 0", fan, "-addr", addr, "-proc", "0", "-n", strconv.Itoa(perProc), "-senders", strconv.Itoa(senders)),
		testutil.StartFanclient(t, "fanclient 1", fan, "-addr", addr, "-proc", "1", "-n", strconv.Itoa(perProc), "-senders", strconv.Itoa(senders)),
	}
	for _, f := range fans {
		f.Expect(t, "connected ", time.Minute)
	}
	testutil.Eventually(t, time.Minute, "10,000 clients announced", func() bool {
		return len(reAdmitted.FindAllStringIndex(readLog(), -1)) >= 2*perProc
	})

	total := testutil.FanRounds(t, fans, 5, senders)
	t.Logf("%d records from %d senders reached each of %d clients", total, 2*senders, 2*perProc)
	for _, f := range fans {
		f.Do(t, "quit")
	}
}

// TestBrokerDropsSlowClient: a broker client that stops reading is dropped
// with its reason logged, while the others receive every byte (ncat's broker
// would stall them all). sockit only: this is where it departs from ncat.
func TestBrokerDropsSlowClient(t *testing.T) {
	testutil.Context(t, time.Minute)
	sockit := sockitPeer(t)
	port := freePort(t)
	pr := start(t, sockit, t.TempDir(), "-vv", "-l", "--broker", "127.0.0.1", port)
	pr.waitStderr(reListening, 10*time.Second)
	address := "127.0.0.1:" + port

	const readers = 8
	stalled, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(address)))
	if err != nil {
		t.Fatal(err)
	}
	stalled.SetReadBuffer(4096)
	defer stalled.Close()
	sender := dial(t, "tcp", address)
	var conns []net.Conn
	for range readers {
		conns = append(conns, dial(t, "tcp", address))
	}
	waitConns(t, pr, readers+2)

	// The sender keeps at most window chunks ahead of the slowest reader, so
	// a reader never lags by a whole client queue however loaded the machine
	// is; the stalled client, which reads nothing, overflows its queue.
	const chunk, chunks, window = 4096, 3000, 128
	var (
		mu       sync.Mutex
		progress = make([]int64, readers)
		ended    int
		moved    = sync.NewCond(&mu)
	)
	counts := make(chan int64, readers)
	for i, c := range conns {
		go func() {
			var n int64
			buf := make([]byte, 64*1024)
			c.SetReadDeadline(time.Now().Add(45 * time.Second))
			for n < chunk*chunks {
				m, err := c.Read(buf)
				n += int64(m)
				mu.Lock()
				progress[i] = n
				if err != nil {
					ended++
				}
				moved.Broadcast()
				mu.Unlock()
				if err != nil {
					break
				}
			}
			counts <- n
		}()
	}
	slowest := func() int64 {
		low := progress[0]
		for _, n := range progress[1:] {
			low = min(low, n)
		}
		return low
	}
	block := bytes.Repeat([]byte("z"), chunk)
	for i := range chunks {
		mu.Lock()
		for ended == 0 && slowest() < int64(i-window)*chunk {
			moved.Wait()
		}
		stop := ended > 0
		mu.Unlock()
		if stop {
			break // a reader failed; its count is checked below
		}
		if _, err := sender.Write(block); err != nil {
			t.Fatalf("sender: %v", err)
		}
	}
	for range readers {
		if n := <-counts; n != chunk*chunks {
			t.Errorf("a reading client got %d bytes, want %d", n, chunk*chunks)
		}
	}
	// The drop is logged with the stalled client's address and the reason.
	// (Reading to the end of its connection would take long: its tiny
	// receive window drains the server's send buffer slowly.)
	pr.waitStderr(regexp.MustCompile(`connection closed remote=`+regexp.QuoteMeta(stalled.LocalAddr().String())+` reason=slow-consumer`), 10*time.Second)
	if n := strings.Count(pr.stderr.String(), "reason=slow-consumer"); n != 2 { // the warning and the close
		t.Errorf("%d slow-consumer lines, want 2 (the stalled client only):\n%s", n, pr.stderr.String())
	}
	pr.kill()
}
