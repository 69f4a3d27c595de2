//go:build !linux

package main

import "syscall"

// dieWithHarness would tie a server's life to the harness's; only Linux has
// a way (Pdeathsig), so elsewhere a harness killed outright leaves its
// servers to be stopped by hand.
func dieWithHarness() *syscall.SysProcAttr { return nil }
