package cli

import (
	"errors"
	"strconv"
	"time"
)

// errNegative is the complaint of the count and duration flags that have no
// meaning below zero (--backlog, --max-conns, --idle-timeout, --grace,
// --timeout): a negative value is a usage error, not "no limit".
var errNegative = errors.New("must not be negative")

// countFlag is an int flag that refuses negative values.
type countFlag struct{ p *int }

func (v countFlag) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v countFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	if n < 0 {
		return errNegative
	}
	*v.p = n
	return nil
}

func (v countFlag) Type() string { return "int" }

// durationFlag is a time.Duration flag that refuses negative values.
type durationFlag struct{ p *time.Duration }

func (v durationFlag) String() string {
	if v.p == nil || *v.p == 0 {
		return "0" // pflag leaves a "0" default out of the help
	}
	return v.p.String()
}

func (v durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 500ms, 30s or 2m")
	}
	if d < 0 {
		return errNegative
	}
	*v.p = d
	return nil
}

func (v durationFlag) Type() string { return "duration" }
