package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// SIGTERM to a `q2o worker` process in the middle of a run: the worker stops
// taking tasks, gives main.py Q2O_SHUTDOWN_TIMEOUT, then stops its process
// group and hands the task back; the other worker process runs it again from
// the beginning (attempt 2) to completed, and no process is left behind.
func TestSIGTERMHandsRunToAnotherWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts q2o processes")
	}
	t.Parallel()
	bin := buildQ2O(t)
	dbURL, redisURL, outputRoot := testenv.DatabaseURL(t), testenv.RedisURL(t), t.TempDir()
	gdb, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	env := []string{
		"Q2O_DATABASE_URL=" + dbURL, "Q2O_REDIS_URL=" + redisURL, "Q2O_OUTPUT_ROOT=" + outputRoot,
		"Q2O_ADMIN_TOKEN=" + adminToken, "Q2O_LOG_FORMAT=text",
		// main.py's pid files are read from outside: no PID namespace.
		"Q2O_SANDBOX=off",
		"Q2O_RUNNER=python3 " + apptest.TestMainPy() + " --mode sleep --seconds 6",
		"Q2O_RUN_WATCH_INTERVAL=200ms", "Q2O_RUN_KILL_GRACE=1s", "Q2O_WORKER_POLL_INTERVAL=50ms",
		"Q2O_OUTBOX_INTERVAL=200ms", "Q2O_SHUTDOWN_TIMEOUT=1s", "Q2O_SMTP_HOST=", "Q2O_METRICS_ADDR=",
		"Q2O_WORKER_HEALTH_ADDR=", "Q2O_STRIPE_WEBHOOK_SECRET=", "Q2O_STRIPE_SECRET_KEY=",
	}
	addr := freeAddr(t)
	start(t, bin, "api", append(env, "Q2O_HTTP_ADDR="+addr), "api")
	first := start(t, bin, "worker-1", env, "worker")
	api := client{t: t, base: "http://" + addr}
	api.waitAPI()

	tn := api.tenant("Handover")
	pid, eid := api.run(tn, "handover")
	var mainPID, childPID int
	waitFor(t, "main.py running on worker-1", 30*time.Second, func() (bool, string) {
		m, ok1 := readPID(filepath.Join(outputRoot, pid, "main.pid"))
		c, ok2 := readPID(filepath.Join(outputRoot, pid, "child.pid"))
		mainPID, childPID = m, c
		return ok1 && ok2, fmt.Sprintf("main.pid %v child.pid %v", ok1, ok2)
	})
	firstWorker := apptest.Deref(apptest.Row[models.Execution](t, gdb, eid).WorkerID)

	start(t, bin, "worker-2", env, "worker")
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.done:
	case <-time.After(20 * time.Second):
		t.Fatal("worker-1 did not exit within 20 s of SIGTERM")
	}
	if apptest.Alive(mainPID) || apptest.Alive(childPID) {
		t.Errorf("worker-1's main.py (%d) or its child (%d) outlived the worker", mainPID, childPID)
	}

	var row models.Execution
	waitFor(t, "the run completed on worker-2", 60*time.Second, func() (bool, string) {
		row = apptest.Row[models.Execution](t, gdb, eid)
		return row.Status == models.StatusCompleted, fmt.Sprintf("%+v", row)
	})
	if row.Attempt != 2 || apptest.Deref(row.WorkerID) == firstWorker {
		t.Errorf("completed as attempt %d on %s; want attempt 2 on the other worker than %s", row.Attempt, apptest.Deref(row.WorkerID), firstWorker)
	}
	p := call[models.Project](api, "GET", "/api/tenant/projects/"+pid, tn.key, nil, http.StatusOK)
	if apptest.StatusOf(p) != models.StatusCompleted || p.Progress != 100 {
		t.Errorf("project: %+v", p)
	}
	// The second attempt's main.py has ended too.
	if m, ok := readPID(filepath.Join(outputRoot, pid, "main.pid")); ok && m != mainPID && apptest.Alive(m) {
		t.Errorf("the second attempt's main.py %d is still alive", m)
	}
}
