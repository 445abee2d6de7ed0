package worker_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
)

// Cancel, then resume at once, with a main.py that ignores SIGTERM: the new
// run's main.py starts only once the old one is gone, so the two never
// share the project folder (nor mix their logs).
func TestResumeWaitsForTheCancelledRunToEnd(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	counter := filepath.Join(t.TempDir(), "starts")
	cfg := a.WorkerConfig("--mode sleep --seconds 30 --stubborn --counter " + counter)
	cfg.KillGrace = 1500 * time.Millisecond
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "no overlap")
	run(t, a, tn, pid)
	// WaitFile waits for main.pid's content: main.py creates it, then writes it.
	oldPID, err := strconv.Atoi(strings.TrimSpace(apptest.WaitFile(t, filepath.Join(a.OutputRoot, pid, "main.pid"), 30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	a.Cancel(tn.Key, pid)
	a.Resume(tn.Key, pid)

	// Watch the old main.py until it is gone, and the counter for the new one.
	var oldGone time.Time
	deadline := time.Now().Add(30 * time.Second)
	for {
		starts := strings.Count(apptest.ReadFile(t, counter), "\n")
		if oldGone.IsZero() && !apptest.Alive(oldPID) {
			oldGone = time.Now()
		}
		if starts >= 2 {
			if oldGone.IsZero() {
				t.Fatalf("the resumed run's main.py started while the cancelled one (%d) was still alive", oldPID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resumed run never started (%d starts)", starts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.Cancel(tn.Key, pid)
}
