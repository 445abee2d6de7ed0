package apptest

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/worker"
)

// LogLinesMainPy is the path of testdata/loglines.py, a main.py that prints
// numbered lines in phases and waits between two phases until the test
// opens the gate (OpenGate).
func LogLinesMainPy() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "loglines.py")
}

// LogLinesConfig is WorkerConfig with loglines.py as main.py, given args
// (--phases 3,2, --width, --rate, --flush, --term-wait).
func (a *App) LogLinesConfig(args ...string) worker.Config {
	cfg := a.WorkerConfig()
	cfg.Runner = "python3 " + LogLinesMainPy() + " " + strings.Join(args, " ")
	return cfg
}

// OpenGate lets loglines.py, running in outputDir, go on to phase n+1.
func OpenGate(t testing.TB, outputDir string, n int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(outputDir, "gate"+strconv.Itoa(n)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// LogStreams are the app's live log streams (events.LogStreams): a test
// may change their settings before it starts a worker.
func (a *App) LogStreams() *events.LogStreams {
	a.t.Helper()
	return a.parts.LogStreams
}

// WaitFor polls cond every 20 ms until it holds, failing the test after
// timeout with what.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
	}
}
