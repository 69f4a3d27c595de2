package launch

import "golang.org/x/sys/unix"

// waitExit returns once the group's leader has exited, leaving it unreaped
// (WNOWAIT) so that its pid and group id stay reserved until the group is
// ended.
func (g *procGroup) waitExit() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, g.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}
