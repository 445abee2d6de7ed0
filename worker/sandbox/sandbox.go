//go:build linux

// Package sandbox runs main.py where it reaches nothing but its own project
// folder.
//
// main.py writes and runs code generated from a tenant's objectives, so it is
// untrusted. The worker starts it through a small init process of its own
// binary (re-executed as "q2o-sandbox-init", the pattern of runc's init and
// Docker's reexec) in new PID, mount, IPC and UTS namespaces (and a network
// namespace when the network is off). As root, and before main.py starts,
// the init:
//
//   - builds a new root on a tmpfs: the system folders (/usr, /bin, /lib…,
//     /etc, /opt) and the runner's own files bound read-only, nosuid and
//     nodev; a private /tmp (tmpfs, size-limited); a minimal /dev; a /proc
//     of the new PID namespace, which shows the run's processes only; and the
//     project folder read-write at the same path the API reports, and
//     nothing else of the output root or of the worker;
//   - pivots into it and detaches the old root, so no path leads back;
//   - sets the limits (address space, processes, file size, no core dumps);
//   - starts main.py as the unprivileged runner user (not the worker's), in
//     a session of its own, with exactly the environment it was given.
//
// The init is PID 1 of the namespace: when main.py exits, the init reports
// its status and exits, and the kernel kills every process left in the
// namespace — daemons that setsid and fork twice included. SIGTERM sent to
// the init is passed on to main.py's session, so main.py has the kill grace;
// SIGKILL to the init, or the death of the worker (Pdeathsig), ends them all
// at once.
//
// It needs root (CAP_SYS_ADMIN for the namespaces and mounts, CAP_SETUID and
// CAP_SETGID to become the runner user). [Check] tells whether this machine
// can give it.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// initArg0 is the argv[0] under which the worker's binary runs as the init.
const initArg0 = "q2o-sandbox-init"

// PATH is main.py's PATH inside the sandbox: the system's folders only.
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config is how every run is sandboxed.
type Config struct {
	// UID and GID are the runner user's (Q2O_RUNNER_USER).
	UID, GID int
	// Network is false to cut main.py off every network
	// (Q2O_RUNNER_NETWORK=off); it keeps only a loopback that is down.
	Network bool
	// MemoryBytes bounds each process's address space (RLIMIT_AS); 0 is
	// no limit.
	MemoryBytes int64
	// Processes bounds the runner user's processes (RLIMIT_NPROC, counted
	// for the user across its runs); 0 is no limit.
	Processes int64
	// FileBytes bounds the size of any one file main.py writes
	// (RLIMIT_FSIZE) and of its /tmp; 0 is no limit.
	FileBytes int64
	// ReadOnly are more paths main.py may read (and run), besides the
	// system folders and the runner's own files: a virtualenv, a model
	// cache.
	ReadOnly []string
}

// LookupUser resolves Q2O_RUNNER_USER: a user name, or uid[:gid].
func LookupUser(name string) (uid, gid int, err error) {
	if name == "" {
		return 0, 0, errors.New("no runner user given")
	}
	if u, g, ok := strings.Cut(name, ":"); ok || isDigits(name) {
		uid, err1 := strconv.Atoi(u)
		gid := uid
		var err2 error
		if ok {
			gid, err2 = strconv.Atoi(g)
		}
		if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
			return 0, 0, fmt.Errorf("runner user %q: want a name or uid[:gid]", name)
		}
		return check(uid, gid, name)
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("runner user %q does not exist; create it with `useradd --system --no-create-home --shell /usr/sbin/nologin %s` (scripts/services.sh does)", name, name)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return check(uid, gid, name)
}

func check(uid, gid int, name string) (int, int, error) {
	if uid == 0 || gid == 0 {
		return 0, 0, fmt.Errorf("runner user %q is root: main.py must run as an unprivileged user", name)
	}
	if uid == os.Geteuid() {
		return 0, 0, fmt.Errorf("runner user %q is the worker's own user: main.py must not be able to read the worker's files and processes", name)
	}
	return uid, gid, nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// Run is one run to start in the sandbox.
type Run struct {
	// Argv is main.py's command line; a program without a slash is looked
	// up in PATH inside the sandbox.
	Argv []string
	// Env is main.py's whole environment.
	Env []string
	// Dir is the project folder: main.py's working directory, bound
	// read-write at the same path.
	Dir string
}

// spec is what the worker hands the init, as JSON on its fd 3.
type spec struct {
	Config
	Run
	Binds []bind
}

type bind struct {
	Path     string
	Writable bool
}

// status is what the init reports on its fd 4 once main.py has ended.
type status struct {
	Started  bool   `json:"started"`
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
}

// systemPaths are bound read-only when they exist: the programs and
// libraries main.py runs with, and /etc for names, certificates and time
// zones (its secret files, such as /etc/shadow, stay unreadable to the
// runner user).
var systemPaths = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"}

// Command returns the command that runs r in the sandbox, and a func that
// reads main.py's end once the command has exited. The caller sets Stdout,
// Stderr and SysProcAttr.Setpgid/Pdeathsig (Cloneflags are set here) and
// starts it.
func Command(cfg Config, r Run) (cmd *exec.Cmd, result func() (Result, error), err error) {
	if len(r.Argv) == 0 {
		return nil, nil, errors.New("sandbox: nothing to run")
	}
	dir, err := filepath.Abs(r.Dir)
	if err != nil {
		return nil, nil, err
	}
	r.Dir = dir
	s := spec{Config: cfg, Run: r}
	for _, p := range systemPaths {
		s.Binds = append(s.Binds, bind{Path: p})
	}
	// The runner's own files: every absolute path on its command line that
	// exists, by its folder (a script imports its neighbours).
	for _, a := range r.Argv {
		if !filepath.IsAbs(a) || strings.HasPrefix(a, dir+"/") || a == dir {
			continue
		}
		if fi, err := os.Stat(a); err == nil {
			p := a
			if !fi.IsDir() {
				p = filepath.Dir(a)
			}
			s.Binds = append(s.Binds, bind{Path: p})
		}
	}
	for _, p := range cfg.ReadOnly {
		s.Binds = append(s.Binds, bind{Path: p})
	}
	s.Binds = append(s.Binds, bind{Path: dir, Writable: true})
	payload, err := json.Marshal(s)
	if err != nil {
		return nil, nil, err
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return nil, nil, err
	}
	// A spec is a few KiB: it fits the pipe's buffer, so writing it now
	// cannot block.
	if _, err := specW.Write(payload); err != nil {
		specR.Close()
		specW.Close()
		statusR.Close()
		statusW.Close()
		return nil, nil, err
	}
	specW.Close()

	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: find the worker's binary: %w", err)
	}
	cmd = &exec.Cmd{Path: self, Args: []string{initArg0}, Env: []string{}, Dir: "/",
		ExtraFiles: []*os.File{specR, statusW}}
	flags := uintptr(syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS)
	if !cfg.Network {
		flags |= syscall.CLONE_NEWNET
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}

	done := false
	result = func() (Result, error) {
		if done {
			return Result{}, errors.New("sandbox: result read twice")
		}
		done = true
		specR.Close()
		statusW.Close()
		defer statusR.Close()
		b, err := io.ReadAll(io.LimitReader(statusR, 64<<10))
		if err != nil || len(b) == 0 {
			// The init was killed (SIGKILL after the grace, or the
			// worker's own end) before it could report.
			return Result{Reported: false}, nil
		}
		var st status
		if err := json.Unmarshal(b, &st); err != nil {
			return Result{}, fmt.Errorf("sandbox: the init's report: %w", err)
		}
		if !st.Started {
			return Result{}, fmt.Errorf("sandbox: %s", st.Error)
		}
		return Result{Reported: true, ExitCode: st.ExitCode, Signal: st.Signal}, nil
	}
	return cmd, result, nil
}

// Result is how main.py ended, as its init saw it.
type Result struct {
	// Reported is false when the init was killed before main.py ended (the
	// sandbox was torn down: SIGKILL after the grace).
	Reported bool
	ExitCode int
	Signal   string
}
