// Package loadgen is the load generator behind "sockit bench": it opens
// connections to a stream server and measures what it gets back, checking
// every byte. Four modes:
//
//   - Greet: connect, read until the server closes, check the greeting, close.
//     One operation per connection.
//   - Echo: keep one connection per worker, send a message, read it back,
//     check it. One operation per round trip.
//   - Relay: stream Size bytes through a relay to an echo server and read
//     them back while sending, half-close, and compare checksums and
//     lengths. One operation per stream.
//   - Idle: open Connections connections and hold them for Duration, then
//     check that each still echoes a byte. One operation per connection.
//
// Run is bounded by Count operations and by Duration, whichever ends first,
// and by its context. Latencies go into an HDR histogram; errors are
// counted by kind (see Kind). The package never prints: the caller formats
// Result and, if it wants, shows Progress.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Mode is what the load does on each connection.
type Mode int

// The modes.
const (
	Greet Mode = iota
	Echo
	Relay
	Idle
)

var modeNames = [...]string{Greet: "greet", Echo: "echo", Relay: "relay", Idle: "idle"}

// String returns the mode's name as the command line spells it.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode returns the Mode called name.
func ParseMode(name string) (Mode, error) {
	for i, n := range modeNames {
		if n == name {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (want greet, echo, relay or idle)", name)
}

// DefaultGreeting is what Greet expects when Config.Expect is nil: the
// seed's and sockit's greeting.
const DefaultGreeting = "Thank you for connecting\n"

// Config is one load. Zero values are documented per field; Address is
// required.
type Config struct {
	// Mode is the load's kind.
	Mode Mode
	// Network is "tcp" (the zero value), "tcp4", "tcp6" or "unix".
	Network string
	// Address is the server's address, HOST:PORT or a Unix socket path.
	Address string
	// Connections is the number of concurrent workers (Greet, Echo, Relay)
	// or of connections held (Idle). Zero means 1.
	Connections int
	// Duration bounds the load's time; in Idle mode it is how long the
	// connections are held once open. Zero means no time bound, unless Count
	// is also zero, in which case it means 10 s.
	Duration time.Duration
	// Count bounds the number of operations; zero means no bound.
	Count int64
	// SourceIPs spreads the client side over this many source addresses,
	// 127.0.0.1, 127.0.0.2, ... (loopback IPv4 only), so that more than one
	// ephemeral port range's worth of connections can be open. Zero or one
	// means the system's choice.
	SourceIPs int
	// Expect is the greeting Greet checks; nil means DefaultGreeting, and an
	// empty non-nil slice accepts any non-empty greeting.
	Expect []byte
	// Size is the echo message size (zero: 64 bytes) or the bytes per relay
	// stream (zero: 1 GiB).
	Size int64
	// Timeout bounds one operation (connect included); zero means 10 s. A
	// relay stream fails when no bytes come back for this long.
	Timeout time.Duration
	// DialParallel is how many connections Idle opens at once; zero means 64.
	DialParallel int
	// Progress, if set, is called about every ProgressInterval (zero: 250 ms)
	// from a goroutine of its own while the load runs, and once at the end.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// Holding, if set, is called once in Idle mode when every connection
	// that could be opened is open, with their number.
	Holding func(open int)
	// SkipVerify leaves out Idle's final check that every connection still
	// echoes a byte (for servers that do not echo).
	SkipVerify bool
}

// Progress is a snapshot of a running load.
type Progress struct {
	Elapsed time.Duration
	Ops     int64 // operations completed and checked
	Errors  int64 // operations failed, all kinds
	Bytes   int64 // payload bytes checked
	Open    int64 // connections open now
}

// Result is what a load measured.
type Result struct {
	Mode        string           `json:"mode"`
	Address     string           `json:"address"`
	Connections int              `json:"connections"`
	SourceIPs   int              `json:"source_ips,omitempty"`
	Elapsed     float64          `json:"elapsed_s"`
	Ops         int64            `json:"ops"`
	Rate        float64          `json:"ops_per_s"`
	Bytes       int64            `json:"bytes,omitempty"`
	Gbps        float64          `json:"gbit_per_s,omitempty"`
	Errors      int64            `json:"errors"`
	ErrorKinds  map[string]int64 `json:"error_kinds,omitempty"`
	MaxOpen     int64            `json:"max_open,omitempty"`
	Latency     Latency          `json:"latency_us"`
	// FirstError is the text of the first error seen, for diagnosis.
	FirstError string `json:"first_error,omitempty"`
}

// Latency summarises the latency histogram, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

// ErrNoAddress is returned by Run when Config.Address is empty.
var ErrNoAddress = errors.New("loadgen: no address")

// maxLatency is the histogram's top value in microseconds (one hour);
// longer latencies are recorded as this.
const maxLatency = int64(time.Hour / time.Microsecond)

// run is one load in progress: the counters workers update.
type run struct {
	cfg    Config
	dialer *dialer
	raw    *rawGreeter // Greet's system-call path; nil: the net package
	start  time.Time

	ops, errs, bytes, open, maxOpen atomic.Int64
	issued                          atomic.Int64 // operations handed out, for Count

	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	kinds    map[string]int64
	firstErr error
}

// Run runs the load cfg describes until Count operations are done, Duration
// passes or ctx ends, and returns what it measured. Failed operations are
// counted in the Result, not returned: Run's error is for a load that could
// not start.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Address == "" {
		return nil, ErrNoAddress
	}
	if cfg.Mode < Greet || cfg.Mode > Idle {
		return nil, fmt.Errorf("loadgen: %v", cfg.Mode)
	}
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 1
	}
	if cfg.Duration <= 0 && cfg.Count <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Expect == nil {
		cfg.Expect = []byte(DefaultGreeting)
	}
	if cfg.Size <= 0 {
		cfg.Size = 64
		if cfg.Mode == Relay {
			cfg.Size = 1 << 30
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.DialParallel <= 0 {
		cfg.DialParallel = 64
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = 250 * time.Millisecond
	}
	d, err := newDialer(cfg.Network, cfg.Address, cfg.SourceIPs, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	r := &run{
		cfg:    cfg,
		dialer: d,
		hist:   hdrhistogram.New(1, maxLatency, 3),
		kinds:  make(map[string]int64),
	}
	if cfg.Mode == Greet {
		r.raw = newRawGreeter(cfg.Network, cfg.Address, cfg.SourceIPs, cfg.Timeout)
	}

	// loadCtx ends the load; Idle uses Duration as its hold time instead.
	r.start = time.Now()
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 && cfg.Mode != Idle {
		loadCtx, cancel = context.WithTimeout(loadCtx, cfg.Duration)
		defer cancel()
	}

	stopProgress := r.startProgress()
	switch cfg.Mode {
	case Idle:
		r.runIdle(loadCtx)
	default:
		var wg sync.WaitGroup
		for i := range cfg.Connections {
			wg.Go(func() { r.worker(loadCtx, i) })
		}
		wg.Wait()
	}
	elapsed := time.Since(r.start)
	stopProgress()
	return r.result(elapsed), nil
}

// startProgress calls cfg.Progress on a ticker until the returned function
// is called, which also makes one final call.
func (r *run) startProgress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.cfg.Progress(r.snapshot())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		r.cfg.Progress(r.snapshot())
	}
}

func (r *run) snapshot() Progress {
	return Progress{
		Elapsed: time.Since(r.start),
		Ops:     r.ops.Load(),
		Errors:  r.errs.Load(),
		Bytes:   r.bytes.Load(),
		Open:    r.open.Load(),
	}
}

// take reserves one operation under Count; false means the load is done.
func (r *run) take(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if r.cfg.Count <= 0 {
		return true
	}
	return r.issued.Add(1) <= r.cfg.Count
}

// done records a successful operation that took d.
func (r *run) done(d time.Duration, bytes int64) {
	r.ops.Add(1)
	if bytes > 0 {
		r.bytes.Add(bytes)
	}
	r.record(d)
}

// record puts one latency into the histogram.
func (r *run) record(d time.Duration) {
	us := min(max(int64(d/time.Microsecond), 1), maxLatency)
	r.mu.Lock()
	r.hist.RecordValue(us)
	r.mu.Unlock()
}

// fail records a failed operation. Errors caused by the load's own end
// (its context) are not failures and are dropped.
func (r *run) fail(ctx context.Context, err error) {
	kind := Classify(err)
	if (isCancel(err) || kind == KindTimeout) && (ctx.Err() != nil || r.pastDeadline(ctx)) {
		return // cut short by the load's own end
	}
	r.errs.Add(1)
	r.mu.Lock()
	r.kinds[kind]++
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
}

// pastDeadline reports whether the load's time is up: a dial may time out
// on the load's deadline a moment before its context reports it.
func (r *run) pastDeadline(ctx context.Context) bool {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return true
	}
	return r.cfg.Mode != Idle && r.cfg.Duration > 0 && time.Since(r.start) >= r.cfg.Duration
}

func (r *run) opened() {
	n := r.open.Add(1)
	for {
		m := r.maxOpen.Load()
		if n <= m || r.maxOpen.CompareAndSwap(m, n) {
			return
		}
	}
}

func (r *run) closed() { r.open.Add(-1) }

func (r *run) result(elapsed time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{
		Mode:        r.cfg.Mode.String(),
		Address:     r.cfg.Address,
		Connections: r.cfg.Connections,
		SourceIPs:   r.cfg.SourceIPs,
		Elapsed:     elapsed.Seconds(),
		Ops:         r.ops.Load(),
		Bytes:       r.bytes.Load(),
		Errors:      r.errs.Load(),
		MaxOpen:     r.maxOpen.Load(),
	}
	if len(r.kinds) > 0 {
		res.ErrorKinds = make(map[string]int64, len(r.kinds))
		for k, v := range r.kinds {
			res.ErrorKinds[k] = v
		}
	}
	if r.firstErr != nil {
		res.FirstError = r.firstErr.Error()
	}
	if s := elapsed.Seconds(); s > 0 {
		res.Rate = float64(res.Ops) / s
		res.Gbps = float64(res.Bytes) * 8 / s / 1e9
	}
	h := r.hist
	if h.TotalCount() > 0 {
		res.Latency = Latency{
			Count: h.TotalCount(),
			Min:   h.Min(),
			Mean:  h.Mean(),
			P50:   h.ValueAtQuantile(50),
			P90:   h.ValueAtQuantile(90),
			P99:   h.ValueAtQuantile(99),
			P999:  h.ValueAtQuantile(99.9),
			Max:   h.Max(),
		}
	}
	return res
}
