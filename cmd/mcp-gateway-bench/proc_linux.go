package main

import "syscall"

// dieWithHarness makes a server get SIGTERM if the harness dies (the gateway
// then ends its own children) instead of lingering.
func dieWithHarness() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
