//go:build unix && !linux

package runner

import "syscall"

// sysProcAttr puts the program in a process group of its own, so signals
// reach everything it starts.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func lockThread() (unlock func()) { return func() {} }

// waitExited cannot wait without reaping here: the caller reaps the process
// and then kills the rest of the group.
func waitExited(int) bool { return false }
