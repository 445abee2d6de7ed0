package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/q2o/q2o/worker/sandbox"
)

// DefaultGrace is how long a stopped program has between SIGTERM and SIGKILL
// when Spec.Grace is zero.
const DefaultGrace = 10 * time.Second

// DefaultStderrTailBytes is how much of the end of stderr Result.StderrTail
// keeps when Spec.StderrTailBytes is zero.
const DefaultStderrTailBytes = 4096

const (
	// maxLine is the longest part of a line that progress patterns are
	// matched on; longer lines still reach the log whole.
	maxLine = 64 << 10
	// drainTimeout bounds the wait for output once the process group has been
	// killed. Only a process that left the group and kept the pipe open can
	// make it matter; its later output is not captured.
	drainTimeout = 5 * time.Second
	// progressQueue decouples the output from OnProgress, so a burst of
	// progress lines does not stall the program.
	progressQueue = 64
)

// Spec is one run of a program.
type Spec struct {
	Argv []string
	// Env is the program's whole environment (see [Env]). Nil means an empty
	// environment, never the worker's own, which holds its secrets.
	Env []string
	// Dir is the working directory (the output folder); it must exist.
	Dir string
	// LogPath is run.log: stdout and stderr are both appended to it (created
	// with mode 0o644 if missing; a symlink is refused), lines from both
	// streams interleaved as they come.
	LogPath string
	// Grace is how long the program has, after SIGTERM to its process group,
	// before the group gets SIGKILL (DefaultGrace when zero or negative). The
	// grace is the program's: once it has exited, what is left of its group
	// is killed at once.
	Grace time.Duration
	// OnProgress is called for each change of progress: a line of stdout or
	// stderr that ProgressPatterns match, or a new value in the progress
	// file (Dir/ProgressFileName, read every ProgressFilePoll and once more
	// after the program exited), with the percent clamped to 0..100 and the
	// message cleaned (see MaxProgressMessage). A value equal to the last one
	// is not reported again, and a value from a pattern other than the
	// PROGRESS line that is lower than the last one is dropped (only the
	// PROGRESS line and the progress file may take progress back). It is
	// called from one goroutine, in order, and Run returns only after its
	// last call returned; it should return quickly, since output waits once
	// progressQueue values are pending.
	OnProgress func(percent int, message string)
	// ProgressPatterns turn lines of output into progress
	// (DefaultProgressPatterns when nil).
	ProgressPatterns *ProgressPatterns
	// Log receives what Run ignores along the way (a progress file that
	// cannot be used, at debug); nil discards it.
	Log *slog.Logger
	// StderrTailBytes is how much of the end of stderr Result.StderrTail
	// keeps (DefaultStderrTailBytes when zero or negative).
	StderrTailBytes int
	// Sandbox, when set, runs the program in a sandbox (package sandbox):
	// as the runner user, seeing only Dir (read-write) and the system
	// (read-only), in a PID namespace whose every process dies with the
	// run. Argv[0] without a slash is then looked up in the sandbox's PATH.
	Sandbox *sandbox.Config
	// OutputLimit, when positive, is the most bytes Dir may hold: a run
	// that writes more is stopped as if cancelled, with
	// Result.OutputExceeded set.
	OutputLimit int64
	// OutputCheck is how often Dir's size is measured (DefaultOutputCheck
	// when zero).
	OutputCheck time.Duration
}

// DefaultOutputCheck is how often a run's folder is measured against its
// OutputLimit.
const DefaultOutputCheck = time.Second

// Result is how a run ended.
type Result struct {
	// ExitCode is the program's exit code; -1 when it was ended by a signal
	// or never started.
	ExitCode int
	// Signal names the signal that ended the program ("killed",
	// "terminated"); empty when it exited by itself.
	Signal string
	// StderrTail is the end of stderr, starting at a line boundary where
	// possible, at most StderrTailBytes long.
	StderrTail string
	// Stopped is true when Run stopped the program because ctx was done
	// (cancelled or timed out); ctx.Err() says which.
	Stopped bool
	// Duration is the time from start to the program's exit.
	Duration time.Duration
	// PGID is the process group id of the run (the program's pid); zero when
	// it never started.
	PGID int
	// LogErr is the first error writing run.log, if any; output after it was
	// read and dropped so the program never blocked on a full pipe.
	LogErr error
	// OutputExceeded is true when Run stopped the program because Dir grew
	// past Spec.OutputLimit.
	OutputExceeded bool
}

// Run starts spec.Argv[0] (looked up in the worker's PATH when it has no
// slash) with spec.Argv as its arguments, without a shell, in a process group
// of its own, and waits for it.
//
// Run returns once the program has exited, every other process of its group
// has been sent SIGKILL (so nothing it started in the background survives
// it), all output has been written to the log and the last OnProgress call
// has returned.
//
// When ctx is done before the program exits, the group gets SIGTERM, then
// SIGKILL after spec.Grace if the program is still there; Result.Stopped is
// true and the error is nil. If ctx is done before Run starts, the program is
// not started and Result.Stopped is true.
//
// Run returns an error, with Result.ExitCode -1, only when the program could
// not be started: an invalid spec, a working directory or log that cannot be
// used, or a program that is missing or not executable (the error wraps the
// exec error, e.g. exec.ErrNotFound or fs.ErrNotExist).
func Run(ctx context.Context, spec Spec) (Result, error) {
	res := Result{ExitCode: -1}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return res, errors.New("runner: nothing to start: argv is empty")
	}
	prog := spec.Argv[0]
	if spec.LogPath == "" {
		return res, fmt.Errorf("runner: cannot start %s: no log path", prog)
	}
	if spec.Dir == "" {
		return res, fmt.Errorf("runner: cannot start %s: no working directory", prog)
	}
	if fi, err := os.Stat(spec.Dir); err != nil {
		return res, fmt.Errorf("runner: cannot start %s: working directory: %w", prog, err)
	} else if !fi.IsDir() {
		return res, fmt.Errorf("runner: cannot start %s: working directory %s is not a directory", prog, spec.Dir)
	}
	if ctx.Err() != nil {
		res.Stopped = true
		return res, nil
	}
	grace := spec.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	tailBytes := spec.StderrTailBytes
	if tailBytes <= 0 {
		tailBytes = DefaultStderrTailBytes
	}
	patterns := spec.ProgressPatterns
	if patterns == nil {
		patterns = DefaultProgressPatterns()
	}
	log := spec.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A progress file left by an earlier run would be read as this one's.
	progressPath := filepath.Join(spec.Dir, ProgressFileName)
	if err := os.Remove(progressPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Debug("remove the earlier progress file", "error", err)
	}

	// O_NOFOLLOW: the output folder belongs to main.py, which could have
	// left a symlink where run.log goes.
	logFile, err := os.OpenFile(spec.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return res, fmt.Errorf("runner: cannot start %s: open log: %w", prog, err)
	}
	defer logFile.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("runner: cannot start %s: stdout pipe: %w", prog, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return res, fmt.Errorf("runner: cannot start %s: stderr pipe: %w", prog, err)
	}

	var cmd *exec.Cmd
	var sandboxed func() (sandbox.Result, error)
	if spec.Sandbox != nil {
		if err := sandbox.Prepare(spec.Dir, *spec.Sandbox, spec.LogPath); err != nil {
			outR.Close()
			outW.Close()
			errR.Close()
			errW.Close()
			return res, fmt.Errorf("runner: cannot start %s: give the folder to the runner user: %w", prog, err)
		}
		cmd, sandboxed, err = sandbox.Command(*spec.Sandbox, sandbox.Run{Argv: spec.Argv, Env: spec.Env, Dir: spec.Dir})
		if err != nil {
			outR.Close()
			outW.Close()
			errR.Close()
			errW.Close()
			return res, fmt.Errorf("runner: cannot start %s: %w", prog, err)
		}
		attr := sysProcAttr()
		cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pdeathsig = attr.Setpgid, attr.Pdeathsig
	} else {
		cmd = exec.Command(prog, spec.Argv[1:]...)
		cmd.Env = spec.Env
		if cmd.Env == nil {
			cmd.Env = []string{}
		}
		cmd.Dir = spec.Dir
		cmd.SysProcAttr = sysProcAttr()
	}
	cmd.Stdout, cmd.Stderr = outW, errW

	// The goroutine that starts the program stays on its thread until the
	// program has exited (see lockThread). It reports the exit without
	// reaping the process when it can (see waitExited); reaped and waitErr
	// are set before exited is closed.
	started := make(chan error, 1)
	exited := make(chan struct{})
	var (
		reaped  bool
		waitErr error
	)
	go func() {
		unlock := lockThread()
		defer unlock()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		if !waitExited(cmd.Process.Pid) {
			waitErr, reaped = cmd.Wait(), true
		}
		close(exited)
	}()
	startErr := <-started
	// Only the child holds the write ends now, so the readers see EOF when
	// the last process that inherited them is gone.
	outW.Close()
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		if sandboxed != nil {
			_, _ = sandboxed()
		}
		return res, fmt.Errorf("runner: cannot start %s: %w", prog, startErr)
	}
	begin := time.Now()
	pgid := cmd.Process.Pid
	res.PGID = pgid

	out := &logSink{file: logFile}
	tail := newTailBuffer(tailBytes)
	progress := make(chan progressLine, progressQueue)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		last := progressLine{percent: -1}
		for p := range progress {
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
		if percent, message, monotonic, ok := patterns.Match(chunk); ok {
			progress <- progressLine{percent, message, monotonic}
		}
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		out.pump(outR, "stdout", matchLine)
	}()
	go func() {
		defer readers.Done()
		out.pump(errR, "stderr", func(chunk []byte, lineStart bool) {
			tail.Write(chunk)
			matchLine(chunk, lineStart)
		})
	}()
	stopWatch, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		watchProgressFile(progressPath, progress, stopWatch, log)
	}()

	stop := ctx.Done()
	var tooBig <-chan struct{}
	if spec.OutputLimit > 0 {
		tooBig = watchSize(spec.Dir, spec.OutputLimit, spec.OutputCheck, exited)
	}
	select {
	case <-exited:
	case <-tooBig:
		res.OutputExceeded = true
		stop = closedChan
	case <-stop:
	}
	select {
	case <-exited:
	case <-stop:
		select {
		case <-exited: // it ended by itself just as it was stopped
		default:
			res.Stopped = !res.OutputExceeded
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			kill := time.NewTimer(grace)
			select {
			case <-exited:
			case <-kill.C:
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-exited
			}
			kill.Stop()
		}
	}
	// Whatever the program left running in its group goes now. The program
	// itself is not reaped yet (unless waitExited could not wait), so its pid
	// still names this group and no other.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !reaped {
		waitErr = cmd.Wait()
	}
	res.Duration = time.Since(begin)

	deadline := time.Now().Add(drainTimeout)
	_ = outR.SetReadDeadline(deadline)
	_ = errR.SetReadDeadline(deadline)
	readers.Wait()
	close(stopWatch) // a last read: the value written just before the exit
	<-watchDone
	close(progress)
	<-progressDone
	outR.Close()
	errR.Close()

	res.StderrTail = tail.String()
	res.LogErr = out.err
	ps := cmd.ProcessState
	if ps == nil {
		if sandboxed != nil {
			_, _ = sandboxed()
		}
		return res, fmt.Errorf("runner: wait for %s: %w", prog, waitErr)
	}
	if sandboxed != nil {
		// The init's exit is not main.py's: its report is.
		sr, err := sandboxed()
		if err != nil {
			return res, fmt.Errorf("runner: cannot start %s: %w", prog, err)
		}
		res.ExitCode, res.Signal = sr.ExitCode, sr.Signal
		if !sr.Reported {
			res.ExitCode, res.Signal = -1, "killed"
		}
		return res, nil
	}
	res.ExitCode = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal().String()
	}
	return res, nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// watchSize measures dir every check (DefaultOutputCheck when zero) until
// done is closed, and closes the channel it returns when dir holds more
// than limit bytes.
func watchSize(dir string, limit int64, check time.Duration, done <-chan struct{}) <-chan struct{} {
	if check <= 0 {
		check = DefaultOutputCheck
	}
	over := make(chan struct{})
	go func() {
		t := time.NewTicker(check)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if DirSize(dir) > limit {
					close(over)
					return
				}
			}
		}
	}()
	return over
}

// DirSize is the bytes of the regular files under dir, links not followed;
// what it cannot read counts as nothing.
func DirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

type progressLine struct {
	percent   int
	message   string
	monotonic bool // see ProgressPatterns.Match
}

// logSink serialises writes of both streams to run.log, whole lines at a
// time, so lines from stdout and stderr interleave but never mix.
type logSink struct {
	mu   sync.Mutex
	file *os.File
	err  error // first write error; later output is dropped
}

func (s *logSink) write(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if _, err := s.file.Write(p); err != nil {
		s.err = err
	}
}

// pump copies r to the log until EOF, handing each chunk to onChunk as well:
// a whole line, or a piece of at most maxLine bytes of a longer one.
// lineStart says whether the chunk begins a line.
func (s *logSink) pump(r io.Reader, stream string, onChunk func(chunk []byte, lineStart bool)) {
	br := bufio.NewReaderSize(r, maxLine)
	lineStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			s.write(chunk)
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
			s.write(fmt.Appendf(nil, "%s[q2o runner: %s no longer captured: %v]\n", prefix, stream, err))
			return
		}
	}
}
