//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package launch

import "golang.org/x/sys/unix"

// waitExit returns once the group's leader has exited, leaving it unreaped
// so that its pid and group id stay reserved until the group is ended.
// These systems have no waitid(WNOWAIT) to say so; a kqueue's EVFILT_PROC
// NOTE_EXIT event does. When the child is already gone by the time the event
// is registered (ESRCH), there is nothing to wait for.
func (g *procGroup) waitExit() {
	kq, err := unix.Kqueue()
	if err != nil {
		return
	}
	defer unix.Close(kq)
	var ev unix.Kevent_t
	unix.SetKevent(&ev, g.pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev.Fflags = unix.NOTE_EXIT
	out := make([]unix.Kevent_t, 1)
	for {
		n, err := unix.Kevent(kq, []unix.Kevent_t{ev}, out, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			return
		}
	}
}
