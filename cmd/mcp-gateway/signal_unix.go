//go:build !windows

package main

import (
	"os"
	"syscall"
)

// reloadSignals are the signals that reload the config.
func reloadSignals() []os.Signal { return []os.Signal{syscall.SIGHUP} }
