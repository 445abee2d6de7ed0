//go:build unix && !linux

package artifacts

import (
	"os"
	"path/filepath"
	"syscall"
)

// openAt opens name inside dir, with flag added to openFlags (so never
// following a symlink at name).
//
// Outside Linux the standard library has no openat, so the path is resolved
// again from dir's name: O_NOFOLLOW guards the last component only, and a
// parent folder swapped for a symlink between the walk and the open is not
// caught here. The checks on the opened descriptor (regular file, one link)
// still apply. Production workers run on Linux, which has the full guarantee.
func openAt(dir *os.File, name string, flag int) (*os.File, error) {
	p := filepath.Join(dir.Name(), name)
	for {
		fd, err := syscall.Open(p, flag|openFlags, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return os.NewFile(uintptr(fd), p), nil
	}
}
