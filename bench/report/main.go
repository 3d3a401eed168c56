// Command report turns the raw results of bench/compare.sh into the table of
// medians and ratios (markdown, on stdout), summary.json and two SVG plots:
// greeting rate against concurrency, and latency percentiles at 64 clients.
//
//	report -in bench/results/raw -out bench/results -machine bench/results/machine.txt
//
// The plots are hand-written SVG: two line charts do not justify a plotting
// library and its dependencies in go.mod.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"sockit/bench/loadgen"
)

// run is one load against one server.
type run struct {
	load, server string
	conc         int
	res          loadgen.Result
}

// idleRun is one idle-connection measurement.
type idleRun struct {
	Server      string          `json:"server"`
	Connections int             `json:"connections"`
	Established int             `json:"established"`
	RSSBefore   int64           `json:"rss_before_kib"`
	RSSAfter    int64           `json:"rss_after_kib"`
	Bench       *loadgen.Result `json:"bench"`
}

// Median is the median of a group of runs.
type Median struct {
	Load       string  `json:"load"`
	Server     string  `json:"server"`
	Conc       int     `json:"connections"`
	Runs       int     `json:"runs"`
	Rate       float64 `json:"ops_per_s"`
	Gbps       float64 `json:"gbit_per_s,omitempty"`
	P50        int64   `json:"p50_us"`
	P90        int64   `json:"p90_us"`
	P99        int64   `json:"p99_us"`
	P999       int64   `json:"p99_9_us"`
	Errors     int64   `json:"errors"`
	ErrorKinds string  `json:"error_kinds,omitempty"`
}

// Summary is summary.json.
type Summary struct {
	Machine string    `json:"machine"`
	Medians []Median  `json:"medians"`
	Idle    []idleRun `json:"idle"`
}

func main() {
	in := flag.String("in", "bench/results/raw", "directory of raw results")
	out := flag.String("out", "bench/results", "directory for summary.json and the plots")
	machine := flag.String("machine", "", "file describing the machine")
	flag.Parse()
	log.SetFlags(0)
	runs, idles, err := readRaw(*in)
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	sum := Summary{Medians: medians(runs), Idle: idles}
	if *machine != "" {
		b, err := os.ReadFile(*machine)
		if err != nil {
			log.Fatalf("report: %v", err)
		}
		sum.Machine = string(b)
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "summary.json"), append(b, '\n'), 0o644); err != nil {
		log.Fatalf("report: %v", err)
	}
	writeTables(os.Stdout, &sum)
	if err := writePlots(*out, sum.Medians); err != nil {
		log.Fatalf("report: %v", err)
	}
}

func readRaw(dir string) ([]run, []idleRun, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	var runs []run
	var idles []idleRun
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if strings.HasPrefix(name, "idle_") {
			var ir idleRun
			if err := json.Unmarshal(b, &ir); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f, err)
			}
			idles = append(idles, ir)
			continue
		}
		// LOAD_SERVER_cN_rN
		parts := strings.Split(name, "_")
		if len(parts) != 4 || !strings.HasPrefix(parts[2], "c") {
			return nil, nil, fmt.Errorf("%s: name is not LOAD_SERVER_cN_rN", f)
		}
		conc, err := strconv.Atoi(parts[2][1:])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		r := run{load: parts[0], server: parts[1], conc: conc}
		if err := json.Unmarshal(b, &r.res); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		runs = append(runs, r)
	}
	idleOrder := []string{"sockit-echo", "naive-echo", "sockit-relay", "nginx-relay", "haproxy-relay"}
	slices.SortFunc(idles, func(a, b idleRun) int {
		ra, rb := slices.Index(idleOrder, a.Server), slices.Index(idleOrder, b.Server)
		if ra < 0 {
			ra = len(idleOrder)
		}
		if rb < 0 {
			rb = len(idleOrder)
		}
		return ra - rb
	})
	return runs, idles, nil
}

func medians(runs []run) []Median {
	type key struct {
		load, server string
		conc         int
	}
	groups := map[key][]run{}
	for _, r := range runs {
		k := key{r.load, r.server, r.conc}
		groups[k] = append(groups[k], r)
	}
	var ms []Median
	for k, g := range groups {
		m := Median{Load: k.load, Server: k.server, Conc: k.conc, Runs: len(g)}
		m.Rate = median(g, func(r run) float64 { return r.res.Rate })
		m.Gbps = median(g, func(r run) float64 { return r.res.Gbps })
		m.P50 = int64(median(g, func(r run) float64 { return float64(r.res.Latency.P50) }))
		m.P90 = int64(median(g, func(r run) float64 { return float64(r.res.Latency.P90) }))
		m.P99 = int64(median(g, func(r run) float64 { return float64(r.res.Latency.P99) }))
		m.P999 = int64(median(g, func(r run) float64 { return float64(r.res.Latency.P999) }))
		kinds := map[string]int64{}
		for _, r := range g {
			m.Errors += r.res.Errors
			for k, v := range r.res.ErrorKinds {
				kinds[k] += v
			}
		}
		var ks []string
		for k, v := range kinds {
			ks = append(ks, fmt.Sprintf("%s %d", k, v))
		}
		slices.Sort(ks)
		m.ErrorKinds = strings.Join(ks, ", ")
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Median) int {
		if c := strings.Compare(a.Load, b.Load); c != 0 {
			return c
		}
		if a.Conc != b.Conc {
			return a.Conc - b.Conc
		}
		return serverRank(a.Server) - serverRank(b.Server)
	})
	return ms
}

func median(g []run, f func(run) float64) float64 {
	v := make([]float64, len(g))
	for i, r := range g {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// order is the column order of the tables and plots.
var order = []string{"sockit", "nginx", "cloop", "haproxy", "naive", "direct", "socat", "ncat", "seed"}

// names are the columns' titles.
var names = map[string]string{
	"sockit": "sockit", "nginx": "nginx stream", "cloop": "C loop", "haproxy": "HAProxy",
	"naive": "naive Go", "direct": "direct (no relay)", "socat": "socat", "ncat": "ncat", "seed": "seed (Python)",
}

func serverRank(s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

func find(ms []Median, load, server string, conc int) *Median {
	for i := range ms {
		if ms[i].Load == load && ms[i].Server == server && ms[i].Conc == conc {
			return &ms[i]
		}
	}
	return nil
}

func servers(ms []Median, load string) []string {
	var ss []string
	for _, m := range ms {
		if m.Load == load && !slices.Contains(ss, m.Server) {
			ss = append(ss, m.Server)
		}
	}
	slices.SortFunc(ss, func(a, b string) int { return serverRank(a) - serverRank(b) })
	return ss
}

func concs(ms []Median, load string) []int {
	var cs []int
	for _, m := range ms {
		if m.Load == load && !slices.Contains(cs, m.Conc) {
			cs = append(cs, m.Conc)
		}
	}
	slices.Sort(cs)
	return cs
}

func human(v float64) string {
	switch {
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// ratio is sockit's value over the peer's: >= 1 means sockit did better.
func ratio(sockit, peer float64) string {
	if sockit <= 0 || peer <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%.2fx)", sockit/peer)
}

func writeTables(w io.Writer, sum *Summary) {
	ms := sum.Medians
	if cs := concs(ms, "greet"); len(cs) > 0 {
		ss := servers(ms, "greet")
		fmt.Fprintln(w, "**"+"Greeting, connections/s (median); (x) is sockit ÷ this server, >= 1 means sockit is faster"+"**")
		fmt.Fprintln(w)
		header(w, "clients", ss)
		for _, c := range cs {
			sk := find(ms, "greet", "sockit", c)
			fmt.Fprintf(w, "| %d |", c)
			for _, s := range ss {
				m := find(ms, "greet", s, c)
				switch {
				case m == nil:
					fmt.Fprint(w, " - |")
				case s == "sockit" || sk == nil:
					fmt.Fprintf(w, " %s%s |", human(m.Rate), errNote(m))
				default:
					fmt.Fprintf(w, " %s%s%s |", human(m.Rate), ratio(sk.Rate, m.Rate), errNote(m))
				}
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
		c := 64
		if !slices.Contains(cs, c) {
			c = cs[len(cs)-1]
		}
		fmt.Fprintf(w, "**Greeting latency at %d clients, connect to close (median of runs)**\n\n", c)
		fmt.Fprintln(w, "| server | p50 | p90 | p99 | p99.9 | errors |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, s := range ss {
			if m := find(ms, "greet", s, c); m != nil {
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d |\n", names[s], usec(m.P50), usec(m.P90), usec(m.P99), usec(m.P999), m.Errors)
			}
		}
		fmt.Fprintln(w)
	}
	if ss := servers(ms, "relay"); len(ss) > 0 {
		fmt.Fprintln(w, "**"+"Relay, 1 stream to an echo server and back, every byte checked, half-close passed on (median)"+"**")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| relay | Gbit/s one way | sockit ÷ this | errors |")
		fmt.Fprintln(w, "|---|---|---|---|")
		sk := find(ms, "relay", "sockit", 1)
		for _, s := range ss {
			m := find(ms, "relay", s, 1)
			if m == nil {
				continue
			}
			r := ""
			if sk != nil && s != "sockit" {
				r = strings.Trim(ratio(sk.Gbps, m.Gbps), " ()")
			}
			fmt.Fprintf(w, "| %s | %.2f | %s | %d |\n", names[s], m.Gbps, r, m.Errors)
		}
		fmt.Fprintln(w)
	}
	if len(sum.Idle) > 0 {
		fmt.Fprintln(w, "**"+"Idle connections: server RSS growth per connection held"+"**")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| server | connections held | RSS before | RSS held | per connection | checked alive |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, ir := range sum.Idle {
			alive := "-"
			if ir.Bench != nil {
				alive = fmt.Sprintf("%d, %d errors", ir.Bench.Ops, ir.Bench.Errors)
			}
			fmt.Fprintf(w, "| %s | %d | %d KiB | %d KiB | %s | %s |\n", ir.Server, ir.held(), ir.RSSBefore, ir.RSSAfter, perConn(ir), alive)
		}
		fmt.Fprintln(w)
	}
	writeTargets(w, sum)
}

// held is the number of connections the server held when measured.
func (ir idleRun) held() int {
	if ir.Established > 0 {
		return ir.Established
	}
	return ir.Connections
}

func perConn(ir idleRun) string {
	if ir.held() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f KB", float64(ir.RSSAfter-ir.RSSBefore)*1024/1000/float64(ir.held()))
}

func errNote(m *Median) string {
	if m.Errors == 0 {
		return ""
	}
	return fmt.Sprintf(" [%d err]", m.Errors)
}

func header(w io.Writer, first string, ss []string) {
	fmt.Fprintf(w, "| %s |", first)
	for _, s := range ss {
		fmt.Fprintf(w, " %s |", names[s])
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|")
	for range ss {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
}

func usec(v int64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f ms", float64(v)/1000)
	}
	return fmt.Sprintf("%d µs", v)
}

// writeTargets checks issue 5's targets against this run.
func writeTargets(w io.Writer, sum *Summary) {
	ms := sum.Medians
	fmt.Fprintln(w, "**"+"Targets (issue 5), from this run"+"**")
	fmt.Fprintln(w)
	check := func(what string, sockit, peer *Median, get func(*Median) float64, want float64) {
		if sockit == nil || peer == nil || get(peer) <= 0 {
			fmt.Fprintf(w, "- %s: not measured\n", what)
			return
		}
		r := get(sockit) / get(peer)
		mark := "MET"
		if r < want {
			mark = "NOT MET"
		}
		fmt.Fprintf(w, "- %s >= %.2fx: %.3fx, %s\n", what, want, r, mark)
	}
	rate := func(m *Median) float64 { return m.Rate }
	gbps := func(m *Median) float64 { return m.Gbps }
	check("greeting, 64 clients, sockit ÷ nginx", find(ms, "greet", "sockit", 64), find(ms, "greet", "nginx", 64), rate, 1.0)
	check("greeting, 64 clients, sockit ÷ C loop", find(ms, "greet", "sockit", 64), find(ms, "greet", "cloop", 64), rate, 0.93)
	check("greeting, 1 client, sockit ÷ C loop", find(ms, "greet", "sockit", 1), find(ms, "greet", "cloop", 1), rate, 0.90)
	check("relay, 1 stream, sockit ÷ nginx", find(ms, "relay", "sockit", 1), find(ms, "relay", "nginx", 1), gbps, 1.2)
	for _, ir := range sum.Idle {
		if ir.Server == "sockit-echo" && ir.held() > 0 {
			kb := float64(ir.RSSAfter-ir.RSSBefore) * 1024 / 1000 / float64(ir.held())
			mark := "MET"
			if kb > 1.0 {
				mark = "NOT MET"
			}
			fmt.Fprintf(w, "- idle echo connections <= 1.0 KB RSS each: %.2f KB at %d connections, %s\n", kb, ir.held(), mark)
		}
	}
}
