package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// colors per server, fixed so both plots agree.
var colors = map[string]string{
	"sockit": "#d62728", "nginx": "#1f77b4", "cloop": "#2ca02c", "naive": "#ff7f0e",
	"haproxy": "#9467bd", "socat": "#8c564b", "ncat": "#e377c2", "seed": "#7f7f7f", "direct": "#17becf",
}

const (
	plotW, plotH                   = 640, 400
	padL, padR, padT, padB float64 = 70, 150, 40, 50
)

// chart is one line chart with a log-scale y axis.
type chart struct {
	b             strings.Builder
	title, xlabel string
	ylabel        string
	ytick         func(float64) string // labels the y grid lines
	xticks        []string
	ymin, ymax    float64 // data range, log scale
	legend        int
}

func (c *chart) x(i int) float64 {
	n := max(len(c.xticks)-1, 1)
	return padL + float64(i)*(plotW-padL-padR)/float64(n)
}

func (c *chart) y(v float64) float64 {
	lo, hi := math.Log10(c.ymin), math.Log10(c.ymax)
	return plotH - padB - (math.Log10(v)-lo)/(hi-lo)*(plotH-padT-padB)
}

func (c *chart) begin() {
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH)
	fmt.Fprintf(&c.b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&c.b, `<text x="%d" y="22" font-size="15" text-anchor="middle">%s</text>`+"\n", int(padL+(plotW-padL-padR)/2), c.title)
	// axes
	fmt.Fprintf(&c.b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", padL, plotH-padB, plotW-padR, plotH-padB)
	fmt.Fprintf(&c.b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", padL, padT, padL, plotH-padB)
	for i, t := range c.xticks {
		fmt.Fprintf(&c.b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", c.x(i), plotH-padB+16, t)
	}
	fmt.Fprintf(&c.b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", padL+(plotW-padL-padR)/2, plotH-10.0, c.xlabel)
	fmt.Fprintf(&c.b, `<text transform="translate(16 %.0f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+(plotH-padT-padB)/2, c.ylabel)
	// decade and half-decade grid lines
	for e := math.Floor(math.Log10(c.ymin)); e <= math.Ceil(math.Log10(c.ymax)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < c.ymin || v > c.ymax {
				continue
			}
			y := c.y(v)
			fmt.Fprintf(&c.b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`+"\n", padL, y, plotW-padR, y)
			fmt.Fprintf(&c.b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y+4, c.ytick(v))
		}
	}
}

// line draws a series; pts maps x index to value (missing: skipped).
func (c *chart) line(server string, pts map[int]float64) {
	col := colors[server]
	if col == "" {
		col = "black"
	}
	var path []string
	for i := range c.xticks {
		v, ok := pts[i]
		if !ok || v <= 0 {
			continue
		}
		path = append(path, fmt.Sprintf("%.1f,%.1f", c.x(i), c.y(v)))
		fmt.Fprintf(&c.b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", c.x(i), c.y(v), col)
	}
	if len(path) > 1 {
		fmt.Fprintf(&c.b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(path, " "))
	}
	ly := padT + 10 + float64(c.legend)*18
	fmt.Fprintf(&c.b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/>`+"\n", plotW-padR+12, ly, plotW-padR+32, ly, col)
	fmt.Fprintf(&c.b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", plotW-padR+38, ly+4, names[server])
	c.legend++
}

func (c *chart) write(path string) error {
	c.b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(c.b.String()), 0o644)
}

// bounds widens [lo, hi] to whole decades around the values.
func bounds(vals []float64) (float64, float64) {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 {
		return 1, 10
	}
	return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
}

func writePlots(dir string, ms []Median) error {
	cs := concs(ms, "greet")
	if len(cs) == 0 {
		return nil
	}
	ss := servers(ms, "greet")
	// Rate against concurrency.
	rc := &chart{title: "Greeting rate against concurrency (median)", xlabel: "concurrent clients", ylabel: "connections/s (log)", ytick: countTick}
	var vals []float64
	for _, c := range cs {
		rc.xticks = append(rc.xticks, fmt.Sprint(c))
	}
	for _, m := range ms {
		if m.Load == "greet" {
			vals = append(vals, m.Rate)
		}
	}
	rc.ymin, rc.ymax = bounds(vals)
	rc.begin()
	for _, s := range ss {
		pts := map[int]float64{}
		for i, c := range cs {
			if m := find(ms, "greet", s, c); m != nil {
				pts[i] = m.Rate
			}
		}
		rc.line(s, pts)
	}
	if err := rc.write(filepath.Join(dir, "greet-rate.svg")); err != nil {
		return err
	}
	// Latency percentiles at 64 clients (or the most measured).
	c := cs[len(cs)-1]
	for _, x := range cs {
		if x == 64 {
			c = 64
		}
	}
	lc := &chart{title: fmt.Sprintf("Greeting latency at %d clients (median of runs)", c), xlabel: "percentile", ylabel: "connect to close (log)", ytick: microsTick,
		xticks: []string{"p50", "p90", "p99", "p99.9"}}
	vals = vals[:0]
	for _, s := range ss {
		if m := find(ms, "greet", s, c); m != nil {
			vals = append(vals, float64(m.P50), float64(m.P999))
		}
	}
	lc.ymin, lc.ymax = bounds(vals)
	lc.begin()
	for _, s := range ss {
		if m := find(ms, "greet", s, c); m != nil {
			lc.line(s, map[int]float64{0: float64(m.P50), 1: float64(m.P90), 2: float64(m.P99), 3: float64(m.P999)})
		}
	}
	return lc.write(filepath.Join(dir, "greet-latency.svg"))
}

// unit is a scale for tick labels: values from size up are written in it.
type unit struct {
	size   float64
	suffix string
}

// scaled writes v in the largest of units (largest first, the last of
// size 1) that it reaches.
func scaled(v float64, units []unit) string {
	for _, u := range units {
		if v >= u.size || u.size == 1 {
			return fmt.Sprintf("%.3g%s", v/u.size, u.suffix)
		}
	}
	return fmt.Sprintf("%.3g", v)
}

// countTick labels a grid line of a count: 500, 2k, 1M.
func countTick(v float64) string { return scaled(v, []unit{{1e6, "M"}, {1e3, "k"}, {1, ""}}) }

// microsTick labels a grid line of a duration in microseconds: 200 µs,
// 5 ms, 1 s.
func microsTick(v float64) string { return scaled(v, []unit{{1e6, " s"}, {1e3, " ms"}, {1, " µs"}}) }
