//go:build linux

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Check starts a sandbox that runs `true` as the runner user and reports why
// it could not, so that a worker refuses to start where the kernel or its
// privileges cannot give isolation (not root, no namespaces, a container
// without CAP_SYS_ADMIN) instead of running main.py unconfined.
func Check(cfg Config) error {
	dir, err := os.MkdirTemp("", "q2o-sandbox-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := Prepare(dir, cfg, ""); err != nil {
		return err
	}
	cmd, result, err := Command(cfg, Run{Argv: []string{"true"}, Dir: dir})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		_, _ = result()
		return fmt.Errorf("start the sandbox's init: %w (it needs root: CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID)", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		err = <-done
		return errors.New("the sandbox's init did not finish within 30 s")
	}
	res, rerr := result()
	if rerr != nil {
		return rerr
	}
	if err != nil || !res.Reported || res.ExitCode != 0 {
		return fmt.Errorf("a sandboxed `true` did not succeed (exit %d %s, %v): %s", res.ExitCode, res.Signal, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// Prepare gives the project folder to the runner user, so main.py can write
// in it: the folder itself, and what is in it when an earlier run (or one
// without the sandbox) left files of another owner. Links are changed, not
// followed. keep (run.log, written by the worker) stays the worker's.
func Prepare(dir string, cfg Config, keep string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) == cfg.UID && int(st.Gid) == cfg.GID {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if keep != "" && p == keep {
			return nil
		}
		return os.Lchown(p, cfg.UID, cfg.GID)
	})
}
