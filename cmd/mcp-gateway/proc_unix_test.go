//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// killPID kills one process outright.
func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// ownGroup makes cmd the leader of a new process group that its Cancel
// kills whole, so that a deadline also ends what it started.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
