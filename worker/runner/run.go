package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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
	// Live, when set, gets run.log's bytes as they are written, starting
	// with what it held before the program started.
	Live LiveLog
}

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
	if err := spec.check(); err != nil {
		return res, err
	}
	if ctx.Err() != nil {
		res.Stopped = true
		return res, nil
	}
	spec = spec.withDefaults()
	// A progress file left by an earlier run would be read as this one's.
	progressPath := filepath.Join(spec.Dir, ProgressFileName)
	if err := os.Remove(progressPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		spec.Log.Debug("remove the earlier progress file", "error", err)
	}

	p, err := start(spec)
	if err != nil {
		return res, err
	}
	defer p.logFile.Close()
	begin := time.Now()
	res.PGID = p.cmd.Process.Pid
	c := startCapture(p, spec, progressPath)

	res.Stopped, res.OutputExceeded = p.supervise(ctx, spec)
	p.reap()
	res.Duration = time.Since(begin)
	c.finish()
	res.StderrTail = c.tail.String()
	res.LogErr = c.out.err
	return p.exitStatus(res, spec.Argv[0])
}

// check refuses a spec that cannot start a program.
func (spec Spec) check() error {
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return errors.New("runner: nothing to start: argv is empty")
	}
	prog := spec.Argv[0]
	if spec.LogPath == "" {
		return fmt.Errorf("runner: cannot start %s: no log path", prog)
	}
	if spec.Dir == "" {
		return fmt.Errorf("runner: cannot start %s: no working directory", prog)
	}
	if fi, err := os.Stat(spec.Dir); err != nil {
		return fmt.Errorf("runner: cannot start %s: working directory: %w", prog, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("runner: cannot start %s: working directory %s is not a directory", prog, spec.Dir)
	}
	return nil
}

// withDefaults fills in the settings left zero.
func (spec Spec) withDefaults() Spec {
	if spec.Grace <= 0 {
		spec.Grace = DefaultGrace
	}
	if spec.StderrTailBytes <= 0 {
		spec.StderrTailBytes = DefaultStderrTailBytes
	}
	if spec.ProgressPatterns == nil {
		spec.ProgressPatterns = DefaultProgressPatterns()
	}
	if spec.Log == nil {
		spec.Log = slog.New(slog.DiscardHandler)
	}
	return spec
}

// supervise waits for the program to exit, and stops its group (see
// process.stop) when ctx is done (stopped) or Dir outgrows
// spec.OutputLimit (tooBig) first.
func (p *process) supervise(ctx context.Context, spec Spec) (stopped, tooBig bool) {
	stop := ctx.Done()
	var over <-chan struct{}
	if spec.OutputLimit > 0 {
		over = watchSize(spec.Dir, spec.OutputLimit, spec.OutputCheck, p.exited)
	}
	select {
	case <-p.exited:
		return false, false
	case <-over:
		tooBig = true
	case <-stop:
	}
	select {
	case <-p.exited: // it ended by itself just as it was stopped
	default:
		p.stop(spec.Grace)
		return !tooBig, tooBig
	}
	return false, tooBig
}
