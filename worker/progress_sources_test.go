package worker_test

import (
	"archive/zip"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/worker/runner"
)

// progressIs is an AwaitProject condition: the run is going and its
// progress is percent.
func progressIs(percent int) func(models.Project) bool {
	return func(p models.Project) bool {
		return apptest.StatusOf(p) == models.StatusRunning && p.Progress == percent
	}
}

// A main.py that prints only the Q2O report's "Completion: 12.5%" line, on
// stderr: with the README's pattern set the project's progress reaches 12
// while it runs, and 100 when it completes.
func TestProgressFromAPattern(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig()
	cfg.Runner = `python3 -c 'import sys, time; print("[OK] task_1: planned", flush=True); print("Completion: 12.5%", file=sys.stderr, flush=True); time.sleep(2)'`
	patterns, err := runner.CompileProgressPatterns([]string{runner.DefaultProgressPattern, `^Completion: (?P<percent>[0-9]+(?:\.[0-9]+)?)%`})
	if err != nil {
		t.Fatal(err)
	}
	cfg.ProgressPatterns = patterns
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "patterns")
	run(t, a, tn, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, progressIs(12))
	if p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted)); p.Progress != 100 {
		t.Errorf("completed with progress %v", p.Progress)
	}
}

// A sandboxed main.py (the runner user, its own folder) that writes
// $Q2O_PROGRESS_FILE: the worker reads it, the project's progress follows,
// and the file stays out of the client's zip.
//
// Not parallel: a sandboxed run under the race detector is heavy enough to
// upset the timing of TestFairShareBetweenTenants next to it.
func TestProgressFromTheFileInTheSandbox(t *testing.T) {
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig()
	cfg.Sandbox = apptest.Sandbox(t)
	cfg.Runner = `python3 -c 'import json, os, time
def put(v):
    p = os.environ["Q2O_PROGRESS_FILE"]
    open(p + ".tmp", "w").write(json.dumps(v)); os.replace(p + ".tmp", p)
put({"done": 3, "total": 8, "message": "task 3"}); time.sleep(2)
open("result.txt", "w").write("ok")
put({"percent": 90, "message": "almost"}); time.sleep(2)'`
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "progress file")
	eid := run(t, a, tn, pid)
	if p := a.AwaitProject(tn.Key, pid, 30*time.Second, progressIs(37)); p.ProgressMessage != "task 3" {
		t.Errorf("progress message %v", p.ProgressMessage)
	}
	a.AwaitProject(tn.Key, pid, 30*time.Second, progressIs(90))
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))

	deadline := time.Now().Add(20 * time.Second)
	for a.Paths(eid).Zip == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	zr, err := zip.OpenReader(a.Paths(eid).Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if len(names) != 1 || names[0] != "result.txt" {
		t.Errorf("the zip holds %q, want only result.txt", names)
	}
}
