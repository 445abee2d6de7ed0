//go:build linux

package artifacts

import (
	"os"
	"path/filepath"
	"syscall"
)

// openAt opens name inside the already opened directory dir, with flag added to
// openFlags (so never following a symlink at name). The kernel resolves name
// relative to dir's descriptor, so no path component above it is looked up
// again: a folder swapped for a symlink after dir was opened cannot redirect
// the open outside the tree.
func openAt(dir *os.File, name string, flag int) (*os.File, error) {
	rc, err := dir.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var openErr error
	if err := rc.Control(func(dirfd uintptr) {
		for {
			fd, openErr = syscall.Openat(int(dirfd), name, flag|openFlags, 0)
			if openErr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	if openErr != nil {
		return nil, &os.PathError{Op: "openat", Path: filepath.Join(dir.Name(), name), Err: openErr}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil
}
