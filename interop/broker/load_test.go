package broker

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sockit/internal/testutil"
)

var reMetricsAddr = regexp.MustCompile(`metrics on (http://\S+)`)

// metric reads one unlabelled or labelled series from the broker's
// Prometheus endpoint; -1 when absent.
func metric(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return -1
}

// TestTenThousandClients runs the broker as a child process (no race
// detector) and 10,000 clients in two child processes of fanclient: every
// message reaches every other client, in order per sender; a client that
// stops reading is dropped as a slow consumer while the rest continue.
func TestTenThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 clients: not in -short")
	}
	testutil.Context(t, 3*time.Minute)
	sockit := testutil.SockitBinary(t)
	fan := testutil.BuildFanclient(t)

	logPath := filepath.Join(t.TempDir(), "broker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// A small queue and send buffer make the stalled client overflow after
	// tens of kilobytes instead of megabytes; 20 concurrent senders fit.
	broker := exec.Command(sockit, "broker", "127.0.0.1:0", "--client-queue", "32", "--client-sndbuf", "4096", "--metrics", "127.0.0.1:0")
	broker.Stdout, broker.Stderr = io.Discard, logFile
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- broker.Wait() }()
	defer func() {
		broker.Process.Signal(syscall.SIGINT)
		select {
		case err := <-brokerDone:
			if err != nil {
				t.Errorf("broker: %v", err)
			}
		case <-time.After(20 * time.Second):
			broker.Process.Kill()
			t.Error("broker did not stop on SIGINT")
		}
	}()
	var addr, metricsURL string
	testutil.Eventually(t, 10*time.Second, "the broker listening", func() bool {
		b, _ := os.ReadFile(logPath)
		m, mm := reListening.FindSubmatch(b), reMetricsAddr.FindSubmatch(b)
		if m == nil || mm == nil {
			return false
		}
		addr, metricsURL = string(m[1]), string(mm[1])
		return true
	})

	const perProc, senders = 5000, 10
	f0 := testutil.StartFanclient(t, "fanclient 0", fan, "-addr", addr, "-proc", "0", "-n", strconv.Itoa(perProc-1), "-senders", strconv.Itoa(senders), "-stall", "1")
	f1 := testutil.StartFanclient(t, "fanclient 1", fan, "-addr", addr, "-proc", "1", "-n", strconv.Itoa(perProc), "-senders", strconv.Itoa(senders))
	fans := []*testutil.Fanclient{f0, f1}
	for _, f := range fans {
		f.Expect(t, "connected ", time.Minute)
	}
	testutil.Eventually(t, time.Minute, "10,000 clients joined", func() bool {
		return metric(t, metricsURL, "sockit_broker_clients") == 2*perProc
	})

	// Main phase: 10 rounds; in each every sender of both processes sends
	// one record, and every client must have all of them before the next.
	total := testutil.FanRounds(t, fans, 10, senders)

	// Flood phase: one sender writes 4 KiB at a time; the stalled client's
	// queue overflows and it is dropped, the others get every record.
	flood, dropped := 0, -1
	for step := 0; step < 200 && (dropped < 0 || step < dropped+3); step++ {
		f0.Do(t, "send F")
		flood += 64
		for _, f := range fans {
			f.Do(t, fmt.Sprintf("wait F %d", flood))
		}
		for _, f := range fans {
			f.Expect(t, fmt.Sprintf("ok F %d", flood), time.Minute)
		}
		if dropped < 0 && metric(t, metricsURL, `sockit_broker_dropped_total{reason="slow-consumer"}`) > 0 {
			dropped = step
		}
	}
	if dropped < 0 {
		t.Fatalf("the stalled client was not dropped after %d flood records", flood)
	}
	t.Logf("stalled client dropped after %d KiB of flood; %d main records to each of %d clients", (dropped+1)*4, total, 2*perProc-1)
	if got := metric(t, metricsURL, `sockit_broker_dropped_total{reason="slow-consumer"}`); got != 1 {
		t.Errorf("slow-consumer drops = %v, want 1 (only the stalled client)", got)
	}
	if got := metric(t, metricsURL, "sockit_broker_clients"); got != 2*perProc-1 {
		t.Errorf("clients = %v, want %d", got, 2*perProc-1)
	}
	f0.Do(t, "stalled")
	f0.Expect(t, "stalled 1 of 1", 30*time.Second)
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "reason=slow-consumer") {
		t.Error("the drop was not logged with its reason")
	}
	for _, f := range fans {
		f.Do(t, "quit")
	}
}
