//go:build !linux

package loadgen

func setBindNoPort(fd int) error { return nil }
