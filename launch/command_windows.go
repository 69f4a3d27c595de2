package launch

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// prepare starts the child suspended, so that it is in its Job Object before
// it runs a single instruction (and so before it can start anything that
// would escape the job), and in a new process group, so that a Ctrl+C in the
// gateway's console reaches the gateway alone.
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP,
	}
}

// procGroup is the Job Object a child runs in. Everything the child starts
// joins the job too, and the job is made to kill all of them when its last
// handle closes — when the gateway ends the group, and also when the gateway
// itself dies, however it dies: no process outlives it.
type procGroup struct {
	job     windows.Handle
	process windows.Handle // the child, to wait on
}

// supervise puts the suspended child in a new job, then lets it run.
func supervise(cmd *exec.Cmd) (*procGroup, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("set job object limits: %w", err)
	}
	// The child is not reaped yet (the gateway's os.Process holds a handle to
	// it), so its pid names it and no other process.
	pid := uint32(cmd.Process.Pid)
	process, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_TERMINATE|windows.PROCESS_SET_QUOTA, false, pid)
	if err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("open process %d: %w", pid, err)
	}
	g := &procGroup{job: job, process: process}
	if err := windows.AssignProcessToJobObject(job, process); err != nil {
		g.release()
		return nil, fmt.Errorf("assign process %d to its job object: %w", pid, err)
	}
	if err := resume(pid); err != nil {
		g.kill()
		g.release()
		return nil, err
	}
	return g, nil
}

// resume resumes the threads of a process started suspended (it has one).
func resume(pid uint32) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("open thread %d: %w", te.ThreadID, err)
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("resume thread %d: %w", te.ThreadID, err)
		}
		resumed++
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return fmt.Errorf("list threads: %w", err)
	}
	if resumed == 0 {
		return fmt.Errorf("process %d has no thread to resume", pid)
	}
	return nil
}

// waitExit returns once the child has exited.
func (g *procGroup) waitExit() {
	_, _ = windows.WaitForSingleObject(g.process, windows.INFINITE)
}

// terminate would ask the group to stop; Windows has no request a console
// child without a window is bound to see, so it ends the job, as kill does.
func (g *procGroup) terminate() { g.kill() }

// kill ends every process in the job.
func (g *procGroup) kill() { _ = windows.TerminateJobObject(g.job, 1) }

// release closes the handles; closing the job's last handle kills whatever
// is still in it.
func (g *procGroup) release() {
	windows.CloseHandle(g.process)
	windows.CloseHandle(g.job)
}
