package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sockit/bench/loadgen"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9, 1, 1000, 2, 8}, 8},
	} {
		g := make([]run, len(tc.in))
		for i, v := range tc.in {
			g[i].res.Rate = v
		}
		if got := median(g, func(r run) float64 { return r.res.Rate }); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestReport runs the report over a small raw directory and checks the
// table's medians and ratios, summary.json and the plots.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw")
	os.Mkdir(raw, 0o755)
	write := func(name string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(raw, name), b, 0o644)
	}
	for i, rate := range []float64{9000, 10000, 11000} {
		r := string(rune('1' + i))
		write("greet_sockit_c64_r"+r+".json", loadgen.Result{Mode: "greet", Rate: rate, Latency: loadgen.Latency{P50: 100, P999: 900}})
		write("greet_nginx_c64_r"+r+".json", loadgen.Result{Mode: "greet", Rate: rate / 2, Latency: loadgen.Latency{P50: 200, P999: 2000}})
		write("greet_cloop_c64_r"+r+".json", loadgen.Result{Mode: "greet", Rate: rate * 2})
	}
	write("relay_sockit_c1_r1.json", loadgen.Result{Mode: "relay", Gbps: 9})
	write("relay_nginx_c1_r1.json", loadgen.Result{Mode: "relay", Gbps: 6})
	write("idle_sockit-echo.json", idleRun{Server: "sockit-echo", Connections: 1000, Established: 1000, RSSBefore: 1000, RSSAfter: 1500})

	runs, idles, err := readRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	sum := Summary{Medians: medians(runs), Idle: idles}
	var b strings.Builder
	writeTables(&b, &sum)
	out := b.String()
	for _, want := range []string{
		"| 64 | 10.0k | 5.00k (2.00x) | 20.0k (0.50x) |",
		"| nginx stream | 6.00 | 1.50x | 0 |",
		"greeting, 64 clients, sockit ÷ nginx >= 1.00x: 2.000x, MET",
		"greeting, 64 clients, sockit ÷ C loop >= 0.93x: 0.500x, NOT MET",
		"relay, 1 stream, sockit ÷ nginx >= 1.20x: 1.500x, MET",
		"0.51 KB at 1000 connections, MET",
		"greeting, 1 client, sockit ÷ C loop: not measured",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if err := writePlots(dir, sum.Medians); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"greet-rate.svg", "greet-latency.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !strings.HasPrefix(string(b), "<svg") || !strings.HasSuffix(string(b), "</svg>\n") {
			t.Errorf("%s: %v, %.60q", f, err, b)
		}
	}
}

func TestReadRawRejectsStrangeNames(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "greet.json"), []byte("{}"), 0o644)
	if _, _, err := readRaw(dir); err == nil {
		t.Error("no error for a badly named result")
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		f    func(float64) string
		v    float64
		want string
	}{
		{countTick, 100, "100"}, {countTick, 2000, "2k"}, {countTick, 50000, "50k"}, {countTick, 1e6, "1M"},
		{microsTick, 20, "20 µs"}, {microsTick, 500, "500 µs"}, {microsTick, 5000, "5 ms"}, {microsTick, 1e7, "10 s"},
	} {
		if got := tc.f(tc.v); got != tc.want {
			t.Errorf("tick(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
