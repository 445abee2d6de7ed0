package worker_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// Postgres goes away around main.py's exit (a private server, stopped and
// started again by the test): main.py ran once, and the run ends completed
// — its outcome is kept and recorded once the database is back, never
// earned again by running the program a second time.
func TestOutcomeSurvivesPostgresOutage(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPrivatePostgres(t)
	a := apptest.New(t, apptest.Options{DatabaseURL: pg.URL})
	counter := filepath.Join(t.TempDir(), "starts")
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 2 --counter " + counter))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "outage")
	run(t, a, tn, pid)
	// WaitFile waits for main.pid's content: main.py creates it, then writes it.
	mainPID, err := strconv.Atoi(strings.TrimSpace(apptest.WaitFile(t, filepath.Join(a.OutputRoot, pid, "main.pid"), 30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}

	pg.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for apptest.Alive(mainPID) {
		if time.Now().After(deadline) {
			t.Fatal("main.py did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the worker fails to record it, and keeps trying
	pg.Start()

	p := a.AwaitProject(tn.Key, pid, 60*time.Second, func(p models.Project) bool {
		s := apptest.StatusOf(p)
		return s == models.StatusCompleted || s == models.StatusFailed
	})
	if apptest.StatusOf(p) != models.StatusCompleted {
		t.Fatalf("after the outage the run is %v: %v", apptest.StatusOf(p), apptest.Deref(p.ExecutionError))
	}
	time.Sleep(time.Second) // a second start, were there one, would show by now
	if n := strings.Count(apptest.ReadFile(t, counter), "\n"); n != 1 {
		t.Errorf("main.py started %d times, want once", n)
	}
	e := a.GetExecution(tn.Key, pid, apptest.Deref(p.LatestExecutionID).String())
	if e.Attempt != 1 || e.ExitCode == nil || *e.ExitCode != 0 {
		t.Errorf("execution: attempt %v, exit code %v", e.Attempt, e.ExitCode)
	}
}

// A worker that stopped before it could record an outcome leaves it in the
// outcome file; the next attempt records it instead of running main.py.
func TestNextAttemptRecordsTheSavedOutcome(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "saved outcome")
	eid := run(t, a, tn, pid)
	file := filepath.Join(a.OutputRoot, "_artifacts", pid, eid+".outcome.json")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(`{"attempt":1,"outcome":{"Status":"completed","ExitCode":0,"Exited":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	counter := filepath.Join(t.TempDir(), "starts")
	a.StartWorker(a.WorkerConfig("--counter " + counter))
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	if _, err := os.Stat(counter); err == nil {
		t.Error("main.py ran although its outcome was saved")
	}
	// The worker removes the file once the outcome is committed.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(file); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Error("the outcome file is still there once recorded")
			break
		}
	}
}
