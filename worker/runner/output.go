package runner

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// capture takes a started program's output: both streams go to run.log,
// stderr's end is kept, and progress from either stream and from the
// progress file reaches Spec.OnProgress, in order, from one goroutine.
type capture struct {
	out                     *logSink
	tail                    *tailBuffer
	outR, errR              *os.File
	readers                 sync.WaitGroup
	progress                chan progressLine
	progressDone, stopWatch chan struct{}
	watchDone               chan struct{}
}

// startCapture starts reading p's output; spec has its defaults (see Run).
func startCapture(p *process, spec Spec, progressPath string) *capture {
	c := &capture{
		out: newLogSink(p.logFile, spec.Live), tail: newTailBuffer(spec.StderrTailBytes), outR: p.outR, errR: p.errR,
		progress: make(chan progressLine, progressQueue), progressDone: make(chan struct{}),
		stopWatch: make(chan struct{}), watchDone: make(chan struct{}),
	}
	go func() {
		defer close(c.progressDone)
		last := progressLine{percent: -1}
		for p := range c.progress {
			if (p.monotonic && p.percent < last.percent) || (p.percent == last.percent && p.message == last.message) {
				continue
			}
			last = p
			if spec.OnProgress != nil {
				spec.OnProgress(p.percent, p.message)
			}
		}
	}()
	matchLine := func(chunk []byte, lineStart bool) {
		if !lineStart {
			return // the rest of a line longer than maxLine
		}
		if percent, message, monotonic, ok := spec.ProgressPatterns.Match(chunk); ok {
			c.progress <- progressLine{percent, message, monotonic}
		}
	}
	c.readers.Add(2)
	go func() {
		defer c.readers.Done()
		c.out.pump(c.outR, "stdout", matchLine)
	}()
	go func() {
		defer c.readers.Done()
		c.out.pump(c.errR, "stderr", func(chunk []byte, lineStart bool) {
			c.tail.Write(chunk)
			matchLine(chunk, lineStart)
		})
	}()
	go func() {
		defer close(c.watchDone)
		watchProgressFile(progressPath, c.progress, c.stopWatch, spec.Log)
	}()
	return c
}

// finish waits, at most drainTimeout, for the rest of the output once the
// program's group is gone, reads the progress file one last time (the
// value written just before the exit), and returns once the last
// OnProgress call has returned.
func (c *capture) finish() {
	deadline := time.Now().Add(drainTimeout)
	_ = c.outR.SetReadDeadline(deadline)
	_ = c.errR.SetReadDeadline(deadline)
	c.readers.Wait()
	close(c.stopWatch)
	<-c.watchDone
	close(c.progress)
	<-c.progressDone
	c.outR.Close()
	c.errR.Close()
}

type progressLine struct {
	percent   int
	message   string
	monotonic bool // see ProgressPatterns.Match
}

// logSink serialises writes of both streams to run.log, whole lines at a
// time, so lines from stdout and stderr interleave but never mix. A line
// longer than maxLine arrives in pieces: while one stream is inside such a
// line, the other stream's output waits in pending (never blocking its
// reader, so the program never stalls on a full pipe) and follows once the
// line ends; past maxPending the long line is broken there instead.
type logSink struct {
	mu      sync.Mutex
	file    *os.File
	live    LiveLog // also gets every byte written, when set
	off     int64   // the size of run.log: where the next write goes
	err     error   // first write error; later output is dropped
	inLine  string  // the stream whose line is half written, or ""
	pending []byte  // the other stream's output, waiting for that line's end
}

func newLogSink(f *os.File, live LiveLog) *logSink {
	return &logSink{file: f, live: live, off: startLive(live, f)}
}

// maxPending bounds what one stream holds back while the other finishes a
// long line.
const maxPending = 1 << 20

// write adds a chunk of stream's output: a whole line, or a piece of one.
func (s *logSink) write(stream string, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inLine != "" && s.inLine != stream {
		if len(s.pending)+len(p) <= maxPending {
			s.pending = append(s.pending, p...)
			return
		}
		s.raw([]byte("\n")) // waited too long: break the long line here
		s.flushPending(stream)
	}
	s.raw(p)
	switch {
	case len(p) > 0 && p[len(p)-1] != '\n':
		s.inLine = stream
	case s.inLine == stream:
		s.flushPending(otherStream(stream))
	}
}

// release ends stream's part once its pump has stopped: a line it left
// unfinished ends, and what the other stream held back follows.
func (s *logSink) release(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inLine == stream {
		if len(s.pending) > 0 {
			s.raw([]byte("\n"))
		}
		s.flushPending(otherStream(stream))
	}
}

// flushPending writes the held-back output of stream, which may itself
// leave a line half written.
func (s *logSink) flushPending(stream string) {
	s.inLine = ""
	if len(s.pending) > 0 {
		s.raw(s.pending)
		if s.pending[len(s.pending)-1] != '\n' {
			s.inLine = stream
		}
		s.pending = s.pending[:0]
	}
}

func (s *logSink) raw(p []byte) {
	if s.err != nil {
		return
	}
	n, err := s.file.Write(p)
	if err != nil {
		s.err = err
	}
	if s.live != nil && n > 0 {
		s.live.Write(s.off, p[:n])
	}
	s.off += int64(n)
}

func otherStream(stream string) string {
	if stream == "stdout" {
		return "stderr"
	}
	return "stdout"
}

// pump copies r to the log until EOF, handing each chunk to onChunk as well:
// a whole line, or a piece of at most maxLine bytes of a longer one.
// lineStart says whether the chunk begins a line.
func (s *logSink) pump(r io.Reader, stream string, onChunk func(chunk []byte, lineStart bool)) {
	defer s.release(stream)
	br := bufio.NewReaderSize(r, maxLine)
	lineStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			s.write(stream, chunk)
			onChunk(chunk, lineStart)
			lineStart = chunk[len(chunk)-1] == '\n'
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return
		default:
			prefix := ""
			if !lineStart {
				prefix = "\n"
			}
			s.write(stream, fmt.Appendf(nil, "%s[q2o runner: %s no longer captured: %v]\n", prefix, stream, err))
			return
		}
	}
}
