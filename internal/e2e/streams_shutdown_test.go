package e2e

import (
	"bufio"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/testenv"
)

// SIGTERM to `q2o api` while a followed log and an event stream are open:
// both end at once, and the process exits 0 well within
// Q2O_SHUTDOWN_TIMEOUT instead of waiting it out.
func TestSIGTERMEndsOpenStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a q2o process")
	}
	t.Parallel()
	bin := buildQ2O(t)
	env := []string{
		"Q2O_DATABASE_URL=" + testenv.DatabaseURL(t), "Q2O_REDIS_URL=" + testenv.RedisURL(t), "Q2O_OUTPUT_ROOT=" + t.TempDir(),
		"Q2O_ADMIN_TOKEN=" + adminToken, "Q2O_LOG_FORMAT=text", "Q2O_SANDBOX=off",
		"Q2O_SHUTDOWN_TIMEOUT=30s", "Q2O_SMTP_HOST=", "Q2O_METRICS_ADDR=", "Q2O_WORKER_HEALTH_ADDR=",
		"Q2O_STRIPE_WEBHOOK_SECRET=", "Q2O_STRIPE_SECRET_KEY=",
	}
	addr := freeAddr(t)
	p := start(t, bin, "api", append(env, "Q2O_HTTP_ADDR="+addr), "api")
	c := client{t: t, base: "http://" + addr}
	waitFor(t, "the API answers", 30*time.Second, func() (bool, string) {
		res, err := http.Get(c.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == 200, res.Status
	})
	tn := c.tenant("Shutdown")
	pid, _ := c.run(tn, "followed") // no worker: it stays pending, its log open
	open := func(path string) <-chan struct{} {
		req, _ := http.NewRequest("GET", c.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tn.key)
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
			}
		}()
		return ended
	}
	logEnded := open("/api/tenant/projects/" + pid + "/logs")
	eventsEnded := open("/api/tenant/events")
	time.Sleep(500 * time.Millisecond) // both are being served

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("q2o api did not exit within 10 s of SIGTERM (Q2O_SHUTDOWN_TIMEOUT is 30 s): an open stream holds it")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("q2o api exited %d after SIGTERM, want 0", code)
	}
	for name, ended := range map[string]<-chan struct{}{"followed log": logEnded, "event stream": eventsEnded} {
		select {
		case <-ended:
		case <-time.After(time.Second):
			t.Errorf("the %s is still open after the process exited", name)
		}
	}
	t.Logf("exited %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
}
