package runner

import (
	"runtime"
	"syscall"
	"unsafe"
)

// sysProcAttr puts the program in a process group of its own, so signals
// reach everything it starts, and makes the kernel SIGKILL it when the
// thread that started it dies: a worker that crashes takes its main.py with
// it instead of leaving it to write into an output folder that a second
// attempt is about to use.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// lockThread keeps the calling goroutine on its OS thread until unlock is
// called. Pdeathsig fires when the thread that forked the child exits, not
// the process (go.dev/issue/27505), and the Go runtime ends a locked thread
// only when its goroutine exits still locked; so the goroutine that starts
// the program stays locked until the program has exited.
func lockThread() (unlock func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// waitExited blocks until process pid has exited, without reaping it. While
// it is an unreaped zombie its pid, which is also its process group id, cannot
// be reused, so the group can be killed afterwards without any risk of
// hitting an unrelated process. It reports false when it could not wait; the
// caller then reaps the process the ordinary way.
func waitExited(pid int) bool {
	const pPID = 1     // P_PID from <sys/wait.h>
	var info [128]byte // siginfo_t, which the kernel fills in
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		default:
			return false
		}
	}
}
