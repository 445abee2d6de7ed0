package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// ProgressFileName is the progress file in the run's folder: main.py may
// write {"percent": 42, "message": "…"} or {"done": 3, "total": 8,
// "message": "…"} to it (its path is $Q2O_PROGRESS_FILE). The leading dot
// keeps it out of the client's zip.
const ProgressFileName = ".q2o-progress.json"

const (
	// ProgressFilePoll is how often Run reads the progress file.
	ProgressFilePoll = 250 * time.Millisecond
	// maxProgressFile is the largest progress file read; a bigger one is
	// ignored.
	maxProgressFile = 64 << 10
)

// progressFileValue is the progress file's JSON.
type progressFileValue struct {
	Percent *float64 `json:"percent"`
	Done    *float64 `json:"done"`
	Total   *float64 `json:"total"`
	Message string   `json:"message"`
}

// parseProgressFile reads the progress file's content: percent, or done
// and total (total above 0), with an optional message. The percent is
// clamped and rounded down, the message cleaned, as for a line (see
// [ProgressPatterns.Match]).
func parseProgressFile(b []byte) (progressLine, error) {
	var v progressFileValue
	if err := json.Unmarshal(b, &v); err != nil {
		return progressLine{}, err
	}
	switch {
	case v.Percent != nil:
		return progressLine{percent: clampPercent(*v.Percent), message: cleanMessage(v.Message)}, nil
	case v.Done != nil && v.Total != nil && *v.Total > 0:
		return progressLine{percent: clampPercent(100 * *v.Done / *v.Total), message: cleanMessage(v.Message)}, nil
	default:
		return progressLine{}, errors.New(`want {"percent": 0-100} or {"done": n, "total": n} with a total above 0`)
	}
}

// readProgressFile returns the content of the progress file at path, or nil
// when there is none. The file is main.py's, so it is read with care: a
// symlink is not followed, a fifo does not block, and anything but a
// regular file with one link, at most maxProgressFile bytes, is refused.
func readProgressFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err // ELOOP for a symlink
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
		return nil, errors.New("a hard link to another file")
	}
	if fi.Size() > maxProgressFile {
		return nil, fmt.Errorf("%d bytes, more than %d", fi.Size(), maxProgressFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxProgressFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxProgressFile {
		return nil, fmt.Errorf("more than %d bytes", maxProgressFile)
	}
	return b, nil
}

// watchProgressFile reads the file at path every ProgressFilePoll, and once
// more when stop is closed, and sends each new value to out. Content that
// cannot be used is logged at debug and ignored; unchanged content is not
// read twice into a value.
func watchProgressFile(path string, out chan<- progressLine, stop <-chan struct{}, log *slog.Logger) {
	var last []byte
	var lastErr string // logged once, not every poll
	poll := func() {
		b, err := readProgressFile(path)
		if err != nil {
			if err.Error() != lastErr {
				lastErr = err.Error()
				log.Debug("progress file ignored", "path", path, "error", err)
			}
			last = nil
			return
		}
		lastErr = ""
		if b == nil || bytes.Equal(b, last) {
			return
		}
		last = b
		p, err := parseProgressFile(b)
		if err != nil {
			log.Debug("progress file ignored", "path", path, "error", err)
			return
		}
		out <- p
	}
	t := time.NewTicker(ProgressFilePoll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			poll()
		case <-stop:
			poll()
			return
		}
	}
}
