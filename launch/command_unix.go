//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package launch

import (
	"os/exec"
	"syscall"
)

// prepare starts the child as the leader of a new process group, so that it
// and everything it starts can be signalled together.
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// procGroup is a child's process group; its id is the child's pid.
type procGroup struct{ pid int }

func supervise(cmd *exec.Cmd) (*procGroup, error) {
	return &procGroup{pid: cmd.Process.Pid}, nil
}

// terminate asks every process of the group to stop.
func (g *procGroup) terminate() { _ = syscall.Kill(-g.pid, syscall.SIGTERM) }

// kill ends every process of the group. It is called before the leader is
// reaped, so the group id cannot have been reused: a process group id stays
// reserved while any member lives, and the unreaped leader is a member.
// ESRCH (the group is already gone) is not an error.
func (g *procGroup) kill() { _ = syscall.Kill(-g.pid, syscall.SIGKILL) }

// release frees what supervising the group held: nothing on Unix.
func (g *procGroup) release() {}
