package apptest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/q2o/q2o/worker/sandbox"
)

// Sandbox is the sandbox of a test worker: the runner user q2o-run, which
// scripts/services.sh creates. The tests run as root (`make test` in CI).
func Sandbox(t testing.TB) *sandbox.Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("sandbox tests need root: run `make test` as root (CI does)")
	}
	uid, gid, err := sandbox.LookupUser("q2o-run")
	if err != nil {
		t.Fatalf("%v (scripts/services.sh creates it: run `make test`)", err)
	}
	return &sandbox.Config{UID: uid, GID: gid, Network: true, MemoryBytes: 2 << 30, Processes: 512, FileBytes: 256 << 20}
}

// HostileMainPy is the path of the hostile main.py of the sandbox tests.
func HostileMainPy() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "worker", "sandbox", "testdata", "hostile.py")
}

// ProcessesWith lists the live processes (zombies aside) anywhere on the
// machine whose command line holds marker.
func ProcessesWith(marker string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(marker)) || strings.Contains(string(b), "go test") {
			continue
		}
		if Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Alive reports whether pid is a live process. A zombie waiting for its
// reaper is not: it has ended and holds nothing.
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the ")" that closes the command name.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
