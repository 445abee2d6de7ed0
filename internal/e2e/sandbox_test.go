package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
)

// A sandboxed main.py under a real `q2o worker` process: it cannot find the
// worker's secrets in any /proc/*/environ, and when the worker ends — by
// SIGTERM, or by kill -9 with no chance to clean up — every process of the
// run ends with it, a setsid'd, SIGTERM-ignoring daemon included.
func TestSandboxedRunDiesWithItsWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts q2o processes")
	}
	t.Parallel()
	apptest.Sandbox(t) // root and the runner user, or a clear failure
	bin := buildQ2O(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dbURL, redisURL, outputRoot := testenv.DatabaseURL(t), testenv.RedisURL(t), t.TempDir()
			secret := fmt.Sprintf("sk_live_e2e%d", time.Now().UnixNano())
			marker := fmt.Sprintf("q2o-e2e-daemon-%d", time.Now().UnixNano())
			env := []string{
				"Q2O_DATABASE_URL=" + dbURL, "Q2O_REDIS_URL=" + redisURL, "Q2O_OUTPUT_ROOT=" + outputRoot,
				"Q2O_ADMIN_TOKEN=" + adminToken, "Q2O_LOG_FORMAT=text", "Q2O_SANDBOX=on", "Q2O_RUNNER_USER=q2o-run",
				"Q2O_STRIPE_SECRET_KEY=" + secret, "Q2O_STRIPE_API_BASE=http://127.0.0.1:1",
				"Q2O_RUNNER=python3 " + apptest.HostileMainPy() + " --secret=" + secret + " --daemon=" + marker + " --sleep=120 --stubborn",
				"Q2O_RUN_WATCH_INTERVAL=200ms", "Q2O_RUN_KILL_GRACE=1s", "Q2O_WORKER_POLL_INTERVAL=50ms",
				"Q2O_OUTBOX_INTERVAL=200ms", "Q2O_SHUTDOWN_TIMEOUT=1s", "Q2O_SMTP_HOST=", "Q2O_METRICS_ADDR=",
				"Q2O_WORKER_HEALTH_ADDR=", "Q2O_STRIPE_WEBHOOK_SECRET=",
			}
			addr := freeAddr(t)
			start(t, bin, "api", append(env, "Q2O_HTTP_ADDR="+addr), "api")
			w := start(t, bin, "worker", env, "worker")
			api := client{t: t, base: "http://" + addr}
			api.waitAPI()
			tn := api.tenant("Sandboxed")
			pid, _ := api.run(tn, "sandboxed")
			dir := filepath.Join(outputRoot, pid)
			waitFor(t, "main.py's daemon writing", 30*time.Second, func() (bool, string) {
				_, err := os.Stat(filepath.Join(dir, "daemon.txt"))
				return err == nil, fmt.Sprint(err)
			})
			var r struct {
				SecretFoundIn []int `json:"secret_found_in"`
				UID           int   `json:"uid"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "report.json"))
			if err != nil || json.Unmarshal(b, &r) != nil {
				t.Fatalf("report.json: %v", err)
			}
			if len(r.SecretFoundIn) > 0 || r.UID == 0 {
				t.Errorf("main.py (uid %d) found the worker's secret in /proc/%v/environ", r.UID, r.SecretFoundIn)
			}
			if len(apptest.ProcessesWith(marker)) == 0 {
				t.Fatal("the daemon is not running: nothing to see die")
			}

			if err := w.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-w.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("the worker did not exit within 20 s of %s", sig)
			}
			waitFor(t, "every process of the run gone", 3*time.Second, func() (bool, string) {
				pids := apptest.ProcessesWith(marker)
				return len(pids) == 0, fmt.Sprintf("still alive: %v", pids)
			})
		})
	}
}
