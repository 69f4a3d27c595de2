package main

import (
	"os"
	"os/exec"
)

// killPID kills one process outright.
func killPID(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// ownGroup makes cmd's Cancel kill it. What it started is not reached from
// here on Windows, but the gateway's upstreams die with the gateway: closing
// its Job Object handles kills them.
func ownGroup(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return cmd.Process.Kill() }
}
