//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// init turns the binary into the sandbox's init when it was started as one:
// before main (or a test's TestMain) runs, so every binary that can start a
// sandboxed run (q2o, and the test binaries that run a worker) can also be
// its init.
func init() {
	if len(os.Args) > 0 && os.Args[0] == initArg0 {
		os.Exit(initMain())
	}
}

const (
	specFD   = 3
	statusFD = 4
)

// initMain is PID 1 of the sandbox. It reports how main.py ended on fd 4 and
// exits; the kernel then kills what is left in the namespace.
func initMain() int {
	statusOut := os.NewFile(statusFD, "status")
	report := func(st status) int {
		b, _ := json.Marshal(st)
		_, _ = statusOut.Write(b)
		_ = statusOut.Close()
		return 0
	}
	var s spec
	if err := json.NewDecoder(os.NewFile(specFD, "spec")).Decode(&s); err != nil {
		return report(status{Error: "read the run's spec: " + err.Error()})
	}
	if err := enter(s); err != nil {
		return report(status{Error: err.Error()})
	}
	// SIGTERM to the init (the worker stopping the run) goes on to main.py's
	// session: main.py has its grace, and the init stays to report.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	if err := setLimits(s.Config); err != nil {
		return report(status{Error: err.Error()})
	}
	_ = os.Setenv("PATH", PATH)
	prog := s.Argv[0]
	if !strings.Contains(prog, "/") {
		p, err := exec.LookPath(prog)
		if err != nil {
			return report(status{Error: fmt.Sprintf("%s: not found in the sandbox's PATH (%s): %v", prog, PATH, err)})
		}
		prog = p
	}
	args := s.Argv
	// The address-space limit goes on main.py alone, not on the init (a Go
	// runtime, the race detector's above all, reserves far more address
	// space than it uses): util-linux's prlimit sets it on itself and then
	// execs main.py, no shell in between.
	if s.MemoryBytes > 0 {
		limiter, err := exec.LookPath("prlimit")
		if err != nil {
			return report(status{Error: "Q2O_RUNNER_MEMORY needs util-linux's prlimit in the sandbox's PATH: " + err.Error()})
		}
		args = append([]string{limiter, "--as=" + strconv.FormatInt(s.MemoryBytes, 10), "--", prog}, s.Argv[1:]...)
		prog = limiter
	}
	cmd := &exec.Cmd{Path: prog, Args: args, Env: s.Env, Dir: s.Dir,
		Stdin: nil, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:     true,
			Credential: &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.GID), Groups: []uint32{}},
		}}
	if err := cmd.Start(); err != nil {
		return report(status{Error: fmt.Sprintf("start %s: %v", s.Argv[0], err)})
	}
	child := cmd.Process.Pid
	go func() {
		for sig := range sigs {
			_ = syscall.Kill(-child, sig.(syscall.Signal))
		}
	}()
	// As PID 1 the init inherits every orphan of the namespace: reap them
	// all until main.py itself has ended.
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return report(status{Started: true, ExitCode: -1, Error: "wait: " + err.Error()})
		}
		if pid != child {
			continue
		}
		st := status{Started: true, ExitCode: ws.ExitStatus()}
		if ws.Signaled() {
			st.ExitCode, st.Signal = -1, ws.Signal().String()
		}
		return report(st)
	}
}

// enter builds the new root and pivots into it.
func enter(s spec) error {
	// Nothing mounted here propagates back to the worker's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// Open every source first: the new root's tmpfs is mounted on /tmp,
	// which may hold a source (the output root often lives there in tests).
	type source struct {
		bind
		fd      int
		dir     bool
		symlink string
	}
	var sources []source
	for _, b := range s.Binds {
		fi, err := os.Lstat(b.Path)
		if err != nil {
			if b.Writable {
				return fmt.Errorf("project folder: %w", err)
			}
			continue // a system folder this machine does not have
		}
		if fi.Mode()&os.ModeSymlink != 0 && !b.Writable {
			// /bin -> usr/bin on a merged /usr: the same link in the new root.
			target, err := os.Readlink(b.Path)
			if err != nil {
				return err
			}
			sources = append(sources, source{bind: b, fd: -1, symlink: target})
			continue
		}
		fd, err := unix.Open(b.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", b.Path, err)
		}
		sources = append(sources, source{bind: b, fd: fd, dir: fi.IsDir()})
	}
	devices := []string{"null", "zero", "full", "random", "urandom", "tty"}
	devFDs := map[string]int{}
	for _, d := range devices {
		if fd, err := unix.Open("/dev/"+d, unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
			devFDs[d] = fd
		}
	}

	root := "/tmp"
	if err := unix.Mount("q2o-sandbox", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=16m"); err != nil {
		return fmt.Errorf("mount the new root: %w", err)
	}
	at := func(p string) string { return filepath.Join(root, p) }

	// /proc of the new PID namespace, /dev with the few devices a program
	// needs, and a private /tmp.
	if err := mkdirMount("proc", at("/proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := mkdirMount("tmpfs", at("/dev"), "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
		return err
	}
	for _, d := range devices {
		fd, ok := devFDs[d]
		if !ok {
			continue
		}
		target := at("/dev/" + d)
		if err := os.WriteFile(target, nil, 0o666); err != nil {
			return err
		}
		if err := bindFD(fd, target, false); err != nil {
			return fmt.Errorf("/dev/%s: %w", d, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, at("/dev/"+name)); err != nil {
			return err
		}
	}
	if err := mkdirMount("tmpfs", at("/dev/shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=64m"); err != nil {
		return err
	}
	tmpSize := "size=512m"
	if s.FileBytes > 0 {
		tmpSize = "size=" + strconv.FormatInt(s.FileBytes, 10)
	}
	if err := mkdirMount("tmpfs", at("/tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,"+tmpSize); err != nil {
		return err
	}
	if err := os.Symlink("/tmp", at("/var/tmp")); err != nil && !os.IsExist(err) {
		if err := os.MkdirAll(at("/var"), 0o755); err == nil {
			_ = os.Symlink("/tmp", at("/var/tmp"))
		}
	}

	// The binds, parents before children (the project folder, deepest,
	// last), so that a child is never hidden by its parent's mount.
	sort.SliceStable(sources, func(i, j int) bool {
		return strings.Count(sources[i].Path, "/") < strings.Count(sources[j].Path, "/")
	})
	for _, src := range sources {
		target := at(src.Path)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if src.symlink != "" {
			if err := os.Symlink(src.symlink, target); err != nil && !os.IsExist(err) {
				return err
			}
			continue
		}
		if src.dir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		} else if err := os.WriteFile(target, nil, 0o644); err != nil && !os.IsExist(err) {
			return err
		}
		if err := bindFD(src.fd, target, src.Writable); err != nil {
			return fmt.Errorf("bind %s: %w", src.Path, err)
		}
	}

	// Into the new root; the old one is detached and gone.
	if err := os.MkdirAll(at("/.old"), 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, at("/.old")); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return err
	}
	// The root itself becomes read-only: main.py writes only to its
	// folder and /tmp.
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make / read-only: %w", err)
	}
	_ = unix.Sethostname([]byte("q2o-sandbox"))
	return nil
}

func mkdirMount(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return nil
}

// bindFD binds the file or folder open as fd onto target: read-only unless
// writable, and never with set-user-ID programs or device files.
func bindFD(fd int, target string, writable bool) error {
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID)
	if !writable {
		flags |= unix.MS_RDONLY
	}
	if !strings.HasPrefix(target, "/tmp/dev/") {
		flags |= unix.MS_NODEV
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s: %w", target, err)
	}
	_ = unix.Close(fd)
	return nil
}

// setLimits sets the run's process, file-size and core limits on the init,
// so that main.py (and all it starts) inherits them; the init, root, is not
// held by RLIMIT_NPROC itself. RLIMIT_AS goes on main.py alone (initMain).
func setLimits(c Config) error {
	set := func(name string, res int, v int64) error {
		if v <= 0 {
			return nil
		}
		lim := unix.Rlimit{Cur: uint64(v), Max: uint64(v)}
		if err := unix.Setrlimit(res, &lim); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
		return nil
	}
	if err := set("RLIMIT_NPROC", unix.RLIMIT_NPROC, c.Processes); err != nil {
		return err
	}
	if err := set("RLIMIT_FSIZE", unix.RLIMIT_FSIZE, c.FileBytes); err != nil {
		return err
	}
	if err := set("RLIMIT_CORE", unix.RLIMIT_CORE, 0); err != nil {
		return err
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("set RLIMIT_CORE: %w", err)
	}
	return nil
}
