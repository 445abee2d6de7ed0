package runner

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// python writes a python3 program into a fresh directory and returns the
// directory (the run's working directory) and the program.
func python(t *testing.T, body string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "prog.py")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// A program that reports progress on stderr, in its own words, among other
// lines and a 1 MB line that matches nothing: the operator's pattern turns
// them into progress, in order; a lower value from that pattern is dropped,
// a repeated one is not reported again, and a PROGRESS line takes progress
// back.
func TestRunProgressPatternsOnStderr(t *testing.T) {
	t.Parallel()
	dir, prog := python(t, `
import sys
def err(s): print(s, file=sys.stderr, flush=True)
err("[agent] starting")
err("step 1/4: planning")
err("x" * (1 << 20))
err("step 2/4: coding")
err("step 1/4: a lower count, from a log line")
err("step 2/4: coding")
err("PROGRESS 10 starting over")
err("step 3/4: testing")
print("some stdout between", flush=True)
err("step 4/4: done")
`)
	patterns, err := CompileProgressPatterns([]string{DefaultProgressPattern, `^step (?P<done>\d+)/(?P<total>\d+): (?P<message>.*)$`})
	if err != nil {
		t.Fatal(err)
	}
	var calls []progressCall
	begin := time.Now()
	res, err := Run(context.Background(), Spec{Argv: []string{"python3", prog}, Env: Env(os.Environ(), Vars{OutputDir: dir}, EnvOptions{}),
		Dir: dir, LogPath: filepath.Join(dir, "run.log"), ProgressPatterns: patterns,
		OnProgress: func(p int, m string) { calls = append(calls, progressCall{p, m}) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	want := []progressCall{{25, "planning"}, {50, "coding"}, {10, "starting over"}, {75, "testing"}, {100, "done"}}
	if !slices.Equal(calls, want) {
		t.Fatalf("progress calls %v, want %v", calls, want)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("the run took %s", d)
	}
	log := readFile(t, filepath.Join(dir, "run.log"))
	if !strings.Contains(log, "\n"+strings.Repeat("x", 1<<20)+"\n") || !strings.Contains(log, "step 1/4: a lower count") {
		t.Errorf("run.log lacks lines (%d bytes)", len(log))
	}
}

// A program that writes the progress file several times: each value
// reaches OnProgress in order, the last one even when the program exits
// right after writing it; a malformed write, a symlink to a file the
// program may not show, a hard link to one, and a fifo are ignored, and a
// file left by an earlier run is not this run's progress.
func TestRunProgressFile(t *testing.T) {
	t.Parallel()
	dir, prog := python(t, `
import json, os, time
path = os.environ["Q2O_PROGRESS_FILE"]
secret = os.environ["SECRET_FILE"]
def write(content):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)
def wait(): time.sleep(0.6)
assert not os.path.lexists(path), "the earlier run's progress file is still there"
write(json.dumps({"percent": 10, "message": "planning"})); wait()
write('{"percent": '); wait()
write(json.dumps({"done": 2, "total": 8, "message": "task 2"})); wait()
os.remove(path); os.symlink(secret, path); wait()
os.remove(path); os.link(secret, path); wait()
os.remove(path); os.mkfifo(path); wait()
os.remove(path); os.mkdir(path); wait(); os.rmdir(path)
write(json.dumps({"percent": 5, "message": "back"})); wait()
write(json.dumps({"percent": 5, "message": "back"})); wait()
write(json.dumps({"percent": 100, "message": "done"}))
`)
	secret := filepath.Join(dir, "secret.json") // in the folder, so that a hard link is possible
	if err := os.WriteFile(secret, []byte(`{"percent": 99, "message": "SECRET"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ProgressFileName), []byte(`{"percent": 100, "message": "the earlier run"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls []progressCall
	res, err := Run(context.Background(), Spec{Argv: []string{"python3", prog},
		Env: append(Env(os.Environ(), Vars{OutputDir: dir}, EnvOptions{}), "SECRET_FILE="+secret),
		Dir: dir, LogPath: filepath.Join(dir, "run.log"), Log: testLogger(t),
		OnProgress: func(p int, m string) { calls = append(calls, progressCall{p, m}) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("result %+v: %s", res, readFile(t, filepath.Join(dir, "run.log")))
	}
	want := []progressCall{{10, "planning"}, {25, "task 2"}, {5, "back"}, {100, "done"}}
	if !slices.Equal(calls, want) {
		t.Fatalf("progress calls %v, want %v", calls, want)
	}
}

// Nothing in the progress file and no matching line: no progress at all,
// and the run does not wait on the file.
func TestRunProgressFileAbsent(t *testing.T) {
	t.Parallel()
	dir, prog := python(t, `print("no progress here")`)
	var calls []progressCall
	begin := time.Now()
	if _, err := Run(context.Background(), Spec{Argv: []string{"python3", prog}, Env: os.Environ(), Dir: dir,
		LogPath: filepath.Join(dir, "run.log"), OnProgress: func(p int, m string) { calls = append(calls, progressCall{p, m}) }}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Errorf("progress calls %v, want none", calls)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("the run took %s", d)
	}
}

// testLogger logs to the test's output, debug included.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
