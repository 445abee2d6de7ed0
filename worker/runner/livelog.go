package runner

import (
	"io"
	"os"
)

// LiveLog receives run.log's bytes as they are written, with their offsets,
// so that followers on other hosts can read the log while the run lives
// (events.LogPublisher). Write must return quickly: output waits for it.
type LiveLog interface {
	Write(off int64, p []byte)
}

// livePrefixMax bounds how much of what run.log held before the program
// started (the header, an earlier attempt's output) is handed to the live
// log: followers of a live run need the start of its own attempt, not the
// whole history.
const livePrefixMax = 4 << 20

// startLive hands live what run.log holds before the program writes to it,
// and returns the offset the program's output starts at.
func startLive(live LiveLog, f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	size := fi.Size()
	if live == nil || size == 0 {
		return size
	}
	from := max(0, size-livePrefixMax)
	b := make([]byte, size-from)
	n, err := f.ReadAt(b, from)
	if err != nil && err != io.EOF {
		return size
	}
	live.Write(from, b[:n])
	return size
}
