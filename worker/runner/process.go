package runner

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/q2o/q2o/worker/sandbox"
)

// process is a started program: its command, the read ends of its stdout
// and stderr, run.log, and how to learn that it has exited.
type process struct {
	cmd *exec.Cmd
	// sandboxed, for a sandboxed run, waits for the sandbox's report of
	// main.py's exit (the command itself is the sandbox's init).
	sandboxed  func() (sandbox.Result, error)
	logFile    *os.File
	outR, errR *os.File
	// exited is closed once the program has exited; reaped and waitErr are
	// set before (see start).
	exited  chan struct{}
	reaped  bool
	waitErr error
}

// start opens run.log and starts spec's program, sandboxed or not, in a
// process group of its own with stdout and stderr on pipes. When it fails,
// nothing it opened stays open. Run has checked spec.
func start(spec Spec) (_ *process, err error) {
	prog := spec.Argv[0]
	p := &process{exited: make(chan struct{})}
	var outW, errW *os.File
	defer func() {
		if err != nil {
			for _, f := range []*os.File{p.outR, outW, p.errR, errW, p.logFile} {
				if f != nil {
					f.Close()
				}
			}
		}
	}()
	// O_NOFOLLOW: the output folder belongs to main.py, which could have
	// left a symlink where run.log goes. Read too: the live log starts with
	// what run.log holds (startLive).
	if p.logFile, err = os.OpenFile(spec.LogPath, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644); err != nil {
		return nil, fmt.Errorf("runner: cannot start %s: open log: %w", prog, err)
	}
	if p.outR, outW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("runner: cannot start %s: stdout pipe: %w", prog, err)
	}
	if p.errR, errW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("runner: cannot start %s: stderr pipe: %w", prog, err)
	}
	if err := p.command(spec); err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = outW, errW

	startErr := p.startOnThread()
	// Only the child holds the write ends now, so the readers see EOF when
	// the last process that inherited them is gone.
	outW.Close()
	errW.Close()
	outW, errW = nil, nil
	if startErr != nil {
		if p.sandboxed != nil {
			_, _ = p.sandboxed()
		}
		return nil, fmt.Errorf("runner: cannot start %s: %w", prog, startErr)
	}
	return p, nil
}

// command builds the program's command: through the sandbox when spec has
// one, and otherwise directly, with spec's environment and no other.
func (p *process) command(spec Spec) error {
	prog := spec.Argv[0]
	if spec.Sandbox != nil {
		if err := sandbox.Prepare(spec.Dir, *spec.Sandbox, spec.LogPath); err != nil {
			return fmt.Errorf("runner: cannot start %s: give the folder to the runner user: %w", prog, err)
		}
		cmd, sandboxed, err := sandbox.Command(*spec.Sandbox, sandbox.Run{Argv: spec.Argv, Env: spec.Env, Dir: spec.Dir})
		if err != nil {
			return fmt.Errorf("runner: cannot start %s: %w", prog, err)
		}
		attr := sysProcAttr()
		cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pdeathsig = attr.Setpgid, attr.Pdeathsig
		p.cmd, p.sandboxed = cmd, sandboxed
		return nil
	}
	cmd := exec.Command(prog, spec.Argv[1:]...)
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = sysProcAttr()
	p.cmd = cmd
	return nil
}

// startOnThread starts the command from a goroutine that stays on its
// thread until the program has exited (see lockThread). That goroutine
// reports the exit without reaping the process when it can (see
// waitExited); reaped and waitErr are set before exited is closed.
func (p *process) startOnThread() error {
	started := make(chan error, 1)
	go func() {
		unlock := lockThread()
		defer unlock()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		if !waitExited(p.cmd.Process.Pid) {
			p.waitErr, p.reaped = p.cmd.Wait(), true
		}
		close(p.exited)
	}()
	return <-started
}

// stop ends the program's group: SIGTERM, then SIGKILL after grace if the
// program is still there. It returns once the program has exited.
func (p *process) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	kill := time.NewTimer(grace)
	defer kill.Stop()
	select {
	case <-p.exited:
	case <-kill.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// reap kills whatever the program left running in its group, then reaps
// the program. The program is not reaped before (unless waitExited could
// not wait), so its pid still names this group and no other.
func (p *process) reap() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if !p.reaped {
		p.waitErr = p.cmd.Wait()
	}
}

// exitStatus fills in res's ExitCode and Signal: main.py's own, as the
// sandbox reports it for a sandboxed run.
func (p *process) exitStatus(res Result, prog string) (Result, error) {
	ps := p.cmd.ProcessState
	if ps == nil {
		if p.sandboxed != nil {
			_, _ = p.sandboxed()
		}
		return res, fmt.Errorf("runner: wait for %s: %w", prog, p.waitErr)
	}
	if p.sandboxed != nil {
		// The init's exit is not main.py's: its report is.
		sr, err := p.sandboxed()
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
