//go:build unix

package main

import (
	"os"
	"syscall"
)

// askToStop sends SIGTERM, on which the gateway shuts down in order.
func askToStop(p *os.Process) { _ = p.Signal(syscall.SIGTERM) }
