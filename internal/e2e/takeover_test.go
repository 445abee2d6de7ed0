package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// kill -9 of the worker holding a run: q2o's own lease (30 s) decides, and
// the reconciler hands the run to the other worker within 45 s, where it
// completes as attempt 2 — not after asynq's own recovery (about two
// minutes).
func TestKillNineTakeoverWithin45s(t *testing.T) {
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
		"Q2O_ADMIN_TOKEN=" + adminToken, "Q2O_LOG_FORMAT=text", "Q2O_SANDBOX=off",
		"Q2O_RUNNER=python3 " + apptest.TestMainPy() + " --mode sleep --seconds 4",
		"Q2O_RUN_WATCH_INTERVAL=200ms", "Q2O_RUN_KILL_GRACE=1s", "Q2O_WORKER_POLL_INTERVAL=50ms",
		"Q2O_OUTBOX_INTERVAL=200ms", "Q2O_SHUTDOWN_TIMEOUT=1s", "Q2O_SMTP_HOST=", "Q2O_METRICS_ADDR=",
		"Q2O_WORKER_HEALTH_ADDR=", "Q2O_STRIPE_WEBHOOK_SECRET=", "Q2O_STRIPE_SECRET_KEY=",
	}
	addr := freeAddr(t)
	start(t, bin, "api", append(env, "Q2O_HTTP_ADDR="+addr), "api")
	first := start(t, bin, "worker-1", env, "worker")
	api := client{t: t, base: "http://" + addr}
	api.waitAPI()
	tn := api.tenant("Takeover")
	_, eid := api.run(tn, "taken over")
	var row models.Execution
	waitFor(t, "the run on worker-1", 30*time.Second, func() (bool, string) {
		row = apptest.Row[models.Execution](t, gdb, eid)
		return row.Status == models.StatusRunning && row.Attempt == 1, fmt.Sprintf("%+v", row)
	})
	held := *row.WorkerID
	start(t, bin, "worker-2", env, "worker")
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-first.done
	waitFor(t, "the run taken over by worker-2", 45*time.Second, func() (bool, string) {
		row = apptest.Row[models.Execution](t, gdb, eid)
		return row.Attempt == 2 && row.WorkerID != nil && *row.WorkerID != held, fmt.Sprintf("%+v", row)
	})
	t.Logf("taken over %.1f s after kill -9", time.Since(killed).Seconds())
	waitFor(t, "the run completed", 30*time.Second, func() (bool, string) {
		row = apptest.Row[models.Execution](t, gdb, eid)
		return row.Status == models.StatusCompleted, fmt.Sprintf("%+v", row)
	})
}
