package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable /bin/sh script into a fresh directory and
// returns that directory (the run's working directory) and the script.
func script(t *testing.T, body string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "prog.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, path)))
	if err != nil {
		t.Fatalf("pid file %s: %v", path, err)
	}
	return pid
}

// procState returns the state letter and process group of pid from
// /proc/<pid>/stat; ok is false when the process does not exist.
func procState(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 3 {
		return 0, 0, false
	}
	pgid, _ = strconv.Atoi(fields[2])
	return fields[0][0], pgid, true
}

// alive reports whether pid is a process that can still run: zombies (dead,
// waiting for their parent or init to reap them) do not count.
func alive(pid int) bool {
	state, _, ok := procState(pid)
	return ok && state != 'Z' && state != 'X'
}

// liveMembers lists the processes of group pgid that are not zombies.
func liveMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, g, ok := procState(pid); ok && g == pgid && state != 'Z' && state != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// assertGroupGone fails unless process group pgid is gone: kill(-pgid, 0)
// says ESRCH, or all that is left are zombies that init has not reaped yet
// (processes that lost their parent are init's to reap, not ours).
func assertGroupGone(t *testing.T, pgid int) {
	t.Helper()
	if pgid <= 0 {
		t.Fatalf("no process group: PGID = %d", pgid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		live := liveMembers(pgid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live processes %v (kill -0: %v)", pgid, live, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestRunHostileValuesArriveAsOneArgument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(os.TempDir(), "pwned-"+randomName(t))
	t.Cleanup(func() { os.Remove(marker) })
	prog := filepath.Join(dir, "main.py")
	err := os.WriteFile(prog, []byte(`import json, os, sys
with open("argv.json", "w") as f:
    json.dump({"argv": sys.argv[1:], "env": {k: os.environ.get(k) for k in
        ["Q2O_PROJECT_ID", "Q2O_TENANT_ID", "Q2O_EXECUTION_ID", "Q2O_OUTPUT_DIR", "Q2O_DATABASE_URL", "PYTHONUNBUFFERED"]}}, f)
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	v := Vars{
		ProjectID:   "0190c0de-0000-7000-8000-000000000001",
		ProjectName: `x"; touch ` + marker + `; echo "`,
		Description: "first line\n$(touch " + marker + ") `touch " + marker + "` && touch " + marker,
		Objectives:  `'; touch ` + marker + `; echo '` + " | tee " + marker,
		OutputDir:   dir,
		TenantID:    "t-1",
		ExecutionID: "e-1",
	}
	argv, err := Argv("python3 "+prog, DefaultArgsTemplate, v)
	if err != nil {
		t.Fatal(err)
	}
	env := Env(append(os.Environ(), "Q2O_DATABASE_URL=postgres://secret@db/q2o"), v, EnvOptions{})

	res, err := Run(context.Background(), Spec{Argv: argv, Env: env, Dir: dir, LogPath: filepath.Join(dir, "run.log")})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", res.ExitCode, res.StderrTail)
	}
	var got struct {
		Argv []string           `json:"argv"`
		Env  map[string]*string `json:"env"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "argv.json"))), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"--project-id=" + v.ProjectID, "--project-name=" + v.ProjectName, "--description=" + v.Description,
		"--objectives=" + v.Objectives, "--output-folder=" + v.OutputDir}
	if !slices.Equal(got.Argv, want) {
		t.Fatalf("main.py got argv\n%q\nwant\n%q", got.Argv, want)
	}
	if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists (stat: %v): a value was run by a shell", marker, err)
	}
	wantEnv := map[string]string{"Q2O_PROJECT_ID": v.ProjectID, "Q2O_TENANT_ID": "t-1", "Q2O_EXECUTION_ID": "e-1",
		"Q2O_OUTPUT_DIR": dir, "PYTHONUNBUFFERED": "1"}
	for k, w := range wantEnv {
		if got.Env[k] == nil || *got.Env[k] != w {
			t.Errorf("main.py saw %s=%v, want %q", k, got.Env[k], w)
		}
	}
	if got.Env["Q2O_DATABASE_URL"] != nil {
		t.Errorf("main.py saw Q2O_DATABASE_URL=%q", *got.Env["Q2O_DATABASE_URL"])
	}
}

type progressCall struct {
	percent int
	message string
}

func TestRunProgressAndLog(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, `
echo "starting the agents"
echo "PROGRESS 10"
echo "warning one" >&2
echo "PROGRESS 50 writing the code now"
echo "PROGRESS 150"
echo "PROGRESS abc"
echo "PROGRESSIVE 20"
echo "PROGRESS -5 below zero"
echo "warning two" >&2
printf 'PROGRESS 99 no newline at the end'
`)
	logPath := filepath.Join(dir, "run.log")
	if err := os.WriteFile(logPath, []byte("=== header written by the worker ===\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls []progressCall
	res, err := Run(context.Background(), Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: logPath,
		OnProgress: func(p int, m string) { calls = append(calls, progressCall{p, m}) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Stopped || res.Signal != "" {
		t.Fatalf("result %+v, want a clean exit", res)
	}
	want := []progressCall{{10, ""}, {50, "writing the code now"}, {100, ""}, {0, "below zero"}, {99, "no newline at the end"}}
	if !slices.Equal(calls, want) {
		t.Fatalf("progress calls %v, want %v", calls, want)
	}

	log := readFile(t, logPath)
	if !strings.HasPrefix(log, "=== header written by the worker ===\n") {
		t.Fatalf("the log was not appended to:\n%s", log)
	}
	inOrder := func(lines ...string) {
		t.Helper()
		at := 0
		for _, l := range lines {
			i := strings.Index(log[at:], l)
			if i < 0 {
				t.Fatalf("log lacks %q after offset %d:\n%s", l, at, log)
			}
			at += i + len(l)
		}
	}
	inOrder("starting the agents\n", "PROGRESS 10\n", "PROGRESS 50 writing the code now\n", "PROGRESS abc\n",
		"PROGRESS -5 below zero\n", "PROGRESS 99 no newline at the end")
	inOrder("warning one\n", "warning two\n")
	if res.StderrTail != "warning one\nwarning two\n" {
		t.Fatalf("stderr tail %q", res.StderrTail)
	}
}

func TestRunLongLines(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, `
head -c 200000 /dev/zero | tr '\0' 'a'; echo
printf 'PROGRESS 7 '; head -c 100000 /dev/zero | tr '\0' 'm'; echo
echo "PROGRESS 42 after the long lines"
`)
	logPath := filepath.Join(dir, "run.log")
	var calls []progressCall
	res, err := Run(context.Background(), Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: logPath,
		OnProgress: func(p int, m string) { calls = append(calls, progressCall{p, m}) }})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	want := []progressCall{{7, strings.Repeat("m", MaxProgressMessage)}, {42, "after the long lines"}}
	if !slices.Equal(calls, want) {
		t.Fatalf("progress calls %d, want 2 (7 with a cut message, then 42): %.200v", len(calls), calls)
	}
	lines := strings.Split(readFile(t, logPath), "\n")
	if len(lines) != 4 || lines[0] != strings.Repeat("a", 200000) ||
		lines[1] != "PROGRESS 7 "+strings.Repeat("m", 100000) || lines[2] != "PROGRESS 42 after the long lines" {
		t.Fatalf("the log does not hold the long lines whole (%d lines)", len(lines))
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	t.Run("exit 0", func(t *testing.T) {
		t.Parallel()
		dir, prog := script(t, "echo done\nexit 0\n")
		res, err := Run(context.Background(), Spec{Argv: []string{prog}, Dir: dir, LogPath: filepath.Join(dir, "run.log")})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 || res.Signal != "" || res.Stopped || res.StderrTail != "" || res.PGID <= 0 || res.Duration <= 0 {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("exit 3 with stderr", func(t *testing.T) {
		t.Parallel()
		dir, prog := script(t, "echo 'Traceback: agent crashed' >&2\necho 'ValueError: boom' >&2\nexit 3\n")
		res, err := Run(context.Background(), Spec{Argv: []string{prog}, Dir: dir, LogPath: filepath.Join(dir, "run.log")})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 3 || res.Signal != "" || res.Stopped {
			t.Fatalf("result %+v, want exit code 3", res)
		}
		if res.StderrTail != "Traceback: agent crashed\nValueError: boom\n" {
			t.Fatalf("stderr tail %q", res.StderrTail)
		}
	})
	t.Run("big stderr keeps its last lines", func(t *testing.T) {
		t.Parallel()
		dir, prog := script(t, "seq 1 50000 | sed 's/^/error line /' >&2\nexit 1\n")
		res, err := Run(context.Background(), Spec{Argv: []string{prog}, Dir: dir, LogPath: filepath.Join(dir, "run.log"),
			StderrTailBytes: 100})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 1 {
			t.Fatalf("exit code %d", res.ExitCode)
		}
		if len(res.StderrTail) > 100 || !strings.HasPrefix(res.StderrTail, "error line ") ||
			!strings.HasSuffix(res.StderrTail, "error line 49999\nerror line 50000\n") {
			t.Fatalf("stderr tail %q is not the last whole lines", res.StderrTail)
		}
	})
	t.Run("killed by a signal", func(t *testing.T) {
		t.Parallel()
		dir, prog := script(t, "kill -9 $$\n")
		res, err := Run(context.Background(), Spec{Argv: []string{prog}, Dir: dir, LogPath: filepath.Join(dir, "run.log")})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != -1 || res.Signal != "killed" || res.Stopped {
			t.Fatalf("result %+v, want killed", res)
		}
	})
}

func TestRunStopsProgramThatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, `
trap '' TERM
sleep 60 &
echo $! > child.pid
echo "PROGRESS 1 ready"
sleep 60
echo "not reached"
`)
	const grace = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stopAt time.Time
	res, err := Run(ctx, Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: filepath.Join(dir, "run.log"), Grace: grace,
		OnProgress: func(int, string) { stopAt = time.Now(); cancel() }})
	returned := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if stopAt.IsZero() {
		t.Fatalf("the program never said it was ready: %+v", res)
	}
	if !res.Stopped || res.ExitCode != -1 || res.Signal != "killed" {
		t.Fatalf("result %+v, want stopped and killed", res)
	}
	if took := returned.Sub(stopAt); took < grace || took > 10*time.Second {
		t.Fatalf("Run returned %v after the cancel; want the grace (%v) and then promptly", took, grace)
	}
	assertGroupGone(t, res.PGID)
	assertDead(t, readPID(t, filepath.Join(dir, "child.pid")))
	if strings.Contains(readFile(t, filepath.Join(dir, "run.log")), "not reached") {
		t.Fatal("the program went on after it was stopped")
	}
}

func TestRunStopsOnTimeout(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, "sleep 60 &\nsleep 60\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: filepath.Join(dir, "run.log"), Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("result %+v, ctx %v; want stopped by the deadline", res, ctx.Err())
	}
	if res.Signal != "terminated" || res.Duration > 30*time.Second {
		t.Fatalf("result %+v, want ended by SIGTERM well before the one-minute grace", res)
	}
	assertGroupGone(t, res.PGID)
}

func TestRunGracefulStop(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, `
trap 'echo "got TERM, saving"; exit 7' TERM
echo "PROGRESS 1 ready"
sleep 60 &
wait $!
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: filepath.Join(dir, "run.log"), Grace: time.Minute,
		OnProgress: func(int, string) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || res.ExitCode != 7 || res.Signal != "" {
		t.Fatalf("result %+v, want stopped with the program's own exit code 7", res)
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, "run.log")), "got TERM, saving\n") {
		t.Fatal("the program's TERM handler did not run")
	}
	assertGroupGone(t, res.PGID)
}

func TestRunGrandchildHoldingStdout(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, `
sleep 60 &
echo $! > child.pid
echo bye
exit 0
`)
	start := time.Now()
	res, err := Run(context.Background(), Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: filepath.Join(dir, "run.log")})
	if err != nil {
		t.Fatal(err)
	}
	// Well under a minute (the grandchild's sleep) and under drainTimeout:
	// the output ended because the group was killed, not by giving up on it.
	if took := time.Since(start); took >= drainTimeout {
		t.Fatalf("Run took %v", took)
	}
	if res.ExitCode != 0 || res.Stopped {
		t.Fatalf("result %+v", res)
	}
	assertDead(t, readPID(t, filepath.Join(dir, "child.pid")))
	assertGroupGone(t, res.PGID)
	if log := readFile(t, filepath.Join(dir, "run.log")); log != "bye\n" {
		t.Fatalf("log %q", log)
	}
}

func TestRunProcessThatLeftTheGroupDoesNotHang(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, `
python3 -c 'import os, time; os.setsid(); open("escaped.pid", "w").write(str(os.getpid())); time.sleep(60)' &
while [ ! -s escaped.pid ]; do sleep 0.05; done
echo bye
`)
	res, err := Run(context.Background(), Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: filepath.Join(dir, "run.log")})
	if err != nil {
		t.Fatal(err)
	}
	escaped := readPID(t, filepath.Join(dir, "escaped.pid"))
	t.Cleanup(func() {
		if alive(escaped) {
			_ = syscall.Kill(escaped, syscall.SIGKILL)
		}
	})
	if res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	log := readFile(t, filepath.Join(dir, "run.log"))
	if !strings.HasPrefix(log, "bye\n") || !strings.Contains(log, "no longer captured") {
		t.Fatalf("log %q; want the output and a note that capture ended", log)
	}
}

func TestRunDoesNotStartWhenCtxIsDone(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, "touch started\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Spec{Argv: []string{prog}, Dir: dir, LogPath: filepath.Join(dir, "run.log")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || res.ExitCode != -1 || res.PGID != 0 {
		t.Fatalf("result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "started")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("the program was started")
	}
}

func TestRunCannotStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "run.log")
	tests := []struct {
		name      string
		spec      Spec
		is        error
		wantInErr string
	}{
		{"no such file", Spec{Argv: []string{filepath.Join(dir, "missing.py")}, Dir: dir, LogPath: log}, fs.ErrNotExist, "missing.py"},
		{"not in PATH", Spec{Argv: []string{"q2o-no-such-program-" + randomName(t)}, Dir: dir, LogPath: log}, exec.ErrNotFound, "q2o-no-such-program-"},
		{"not executable", Spec{Argv: []string{notExec}, Dir: dir, LogPath: log}, fs.ErrPermission, "not-executable.sh"},
		{"working directory missing", Spec{Argv: []string{"/bin/true"}, Dir: filepath.Join(dir, "gone"), LogPath: log}, fs.ErrNotExist, "working directory"},
		{"working directory is a file", Spec{Argv: []string{"/bin/true"}, Dir: notExec, LogPath: log}, nil, "not a directory"},
		{"log is a symlink", Spec{Argv: []string{"/bin/true"}, Dir: dir, LogPath: filepath.Join(dir, "link.log")}, nil, "open log"},
		{"empty argv", Spec{Dir: dir, LogPath: log}, nil, "argv is empty"},
		{"no log path", Spec{Argv: []string{"/bin/true"}, Dir: dir}, nil, "no log path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), tt.spec)
			if err == nil {
				t.Fatalf("Run = %+v, want an error", res)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
			if res.ExitCode != -1 || res.PGID != 0 {
				t.Errorf("result %+v, want ExitCode -1 and no process group", res)
			}
		})
	}
}
