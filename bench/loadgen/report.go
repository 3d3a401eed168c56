package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteText writes res as a short human-readable report.
func (res *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d connections, %.2fs\n", res.Mode, res.Address, res.Connections, res.Elapsed)
	unit := map[string]string{"greet": "connections", "echo": "round trips", "relay": "streams", "idle": "connections checked"}[res.Mode]
	fmt.Fprintf(&b, "  %d %s, %.1f/s\n", res.Ops, unit, res.Rate)
	if res.Bytes > 0 {
		fmt.Fprintf(&b, "  %s checked, %.3f Gbit/s\n", FormatSize(res.Bytes), res.Gbps)
	}
	if res.MaxOpen > 0 && res.Mode == "idle" {
		fmt.Fprintf(&b, "  %d connections held open\n", res.MaxOpen)
	}
	fmt.Fprintf(&b, "  errors: %d", res.Errors)
	if len(res.ErrorKinds) > 0 {
		kinds := make([]string, 0, len(res.ErrorKinds))
		for k := range res.ErrorKinds {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		sep := " ("
		for _, k := range kinds {
			fmt.Fprintf(&b, "%s%s %d", sep, k, res.ErrorKinds[k])
			sep = ", "
		}
		b.WriteString(")")
	}
	b.WriteString("\n")
	if res.FirstError != "" {
		fmt.Fprintf(&b, "  first error: %s\n", res.FirstError)
	}
	if l := res.Latency; l.Count > 0 {
		fmt.Fprintf(&b, "  latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d samples)\n",
			us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), l.Count)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// us formats microseconds with a unit that keeps the number short.
func us(v int64) string {
	switch {
	case v < 1000:
		return strconv.FormatInt(v, 10) + "µs"
	case v < 1000_000:
		return strconv.FormatFloat(float64(v)/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(float64(v)/1e6, 'f', 2, 64) + "s"
}
