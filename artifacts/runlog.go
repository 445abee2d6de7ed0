package artifacts

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// This file is the run logs on disk: the run.log (RunLog) main.py writes in
// its output folder, the header that says whose output it holds, and where
// the local store keeps each ended run's log, beside its zip (the copy is
// made through artifacts/store, by service.KeepRunLog).

// ErrNotPlainFile is returned (wrapped) for a log that is a symlink, a
// fifo, a device, a folder or a file with more than one link: main.py writes
// in the folder of run.log and could leave any of these in its place.
var ErrNotPlainFile = errors.New("artifacts: not a plain file")

const runLogHeaderStart = "=== q2o execution "

// RunLogHeader is the line the worker writes into run.log when an attempt
// starts (run.log is emptied when an execution's first attempt starts), so
// that a reader can tell whose output run.log holds (HoldsRun).
func RunLogHeader(execID string, attempt int, at time.Time) string {
	return fmt.Sprintf("%s%s, attempt %d, started %s ===\n", runLogHeaderStart, execID, attempt, at.UTC().Format(time.RFC3339))
}

// HoldsRun reports whether f, a run.log, starts with the header of
// execution execID (any attempt).
func HoldsRun(f io.ReaderAt, execID string) bool {
	want := runLogHeaderStart + execID + ","
	head := make([]byte, len(want))
	n, _ := f.ReadAt(head, 0)
	return n == len(head) && string(head) == want
}

// KeptLogPath is where the log of an ended execution is kept:
// root/_artifacts/<projectID>/<execID>.log, beside its zip.
func KeptLogPath(root, projectID, execID string) string {
	return filepath.Join(root, ArtifactsDir, projectID, execID+".log")
}

// OpenPlainFile opens path for reading if it is a regular file with one
// link, never through a symlink and without blocking on a fifo.
// Errors: fs.ErrNotExist (wrapped) for a missing file, ErrNotPlainFile
// (wrapped) for anything but a plain file.
func OpenPlainFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case errors.Is(err, syscall.ELOOP):
		return nil, fmt.Errorf("%s: %w", path, ErrNotPlainFile)
	case err != nil:
		return nil, fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat log: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || !ok || st.Nlink != 1 {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotPlainFile)
	}
	return f, nil
}

// TailStart returns where the last n lines of the first size bytes of f
// begin. It reads backwards in blocks, so its memory does not depend on the
// file's size. A newline at the very end closes the last line; it does not
// start another.
func TailStart(f io.ReaderAt, size int64, n int) (int64, error) {
	if n <= 0 {
		return size, nil
	}
	const block = 64 << 10
	buf := make([]byte, block)
	lines := 0
	for end := size; end > 0; {
		start := max(0, end-block)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read log: %w", err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' || start+int64(i) == size-1 {
				continue
			}
			if lines++; lines == n {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}
