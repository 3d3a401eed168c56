package foundation

import (
	"regexp"
	"syscall"
)

var (
	reGot           = regexp.MustCompile(`^Got connection from 127\.0\.0\.1:\d+`)
	reSeedListening = regexp.MustCompile(`^socket is listening`)
	reSeedGot       = regexp.MustCompile(`^Got connection from \('127\.0\.0\.1', \d+\)`)
	sigINT          = syscall.SIGINT
	sigTERM         = syscall.SIGTERM
)
