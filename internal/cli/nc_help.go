package cli

import (
	"strings"

	"github.com/spf13/pflag"
)

// ncHelp is "nc --help": ncat's usage lines, then the options as pflag
// prints them.
func ncHelp(fs *pflag.FlagSet) string {
	var b strings.Builder
	b.WriteString("Ncat " + ncatVersion + "-compatible (sockit " + Version + ")\n")
	b.WriteString("Usage: ncat [options] [hostname] [port]\n\n")
	b.WriteString("Options taking a time assume seconds. Append 'ms' for milliseconds,\n")
	b.WriteString("'s' for seconds, 'm' for minutes, or 'h' for hours (e.g. 500ms).\n")
	b.WriteString(fs.FlagUsages())
	b.WriteString("\nSee docs/ncat.md for the differences from Nmap's ncat.\n")
	return b.String()
}
