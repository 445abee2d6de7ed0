package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperDirEnv makes the test binary act as a worker that runs one program
// in that directory (see TestMain), so a test can kill the "worker".
const helperDirEnv = "RUNNER_TEST_WORKER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperDirEnv); dir != "" {
		_, err := Run(context.Background(), Spec{
			Argv: []string{"/bin/sh", "-c", "echo $$ > main.pid.tmp && mv main.pid.tmp main.pid && exec sleep 60"},
			Env:  []string{"PATH=/usr/bin:/bin"}, Dir: dir, LogPath: filepath.Join(dir, "run.log"),
		})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
		}
		os.Exit(3) // not reached: the test kills this process first
	}
	os.Exit(m.Run())
}

func TestRunProgramDiesWithTheWorker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(os.Environ(), helperDirEnv+"="+dir)
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = worker.Process.Kill()
			_ = worker.Wait()
		}
	})

	pidFile := filepath.Join(dir, "main.pid")
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never started its program")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) {
		t.Fatalf("program %d is not running", pid)
	}

	// A crash: the worker gets no chance to clean up.
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()
	waited = true
	assertDead(t, pid)
}
