// Package e2e runs q2o as separate processes, the way it is deployed: the
// binary built from cmd/q2o, an API and several workers sharing one Postgres
// and one Redis.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

const adminToken = "e2e-admin-token-0123456789"

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildQ2O builds the q2o binary into a temporary folder.
func buildQ2O(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "q2o")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/q2o")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a running q2o command; its log is printed when the test fails.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, bin, name string, env []string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() || os.Getenv("Q2O_E2E_LOGS") != "" {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- %s log ---\n%s", name, tail(string(b), 80))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// client talks to the API.
type client struct {
	t    *testing.T
	base string
}

// do sends a request and returns the answer's body: see testenv.API.
func (c client) do(method, path, token string, body any, want int) []byte {
	c.t.Helper()
	return testenv.API{T: c.t, Base: c.base}.Do(method, path, token, body, want)
}

// call is do that decodes the answer as a T.
func call[T any](c client, method, path, token string, body any, want int) T {
	c.t.Helper()
	return testenv.Call[T](testenv.API{T: c.t, Base: c.base}, method, path, token, body, want)
}

type tenant struct{ id, key string }

func (c client) tenant(name string) tenant {
	m := call[apptest.CreatedTenant](c, "POST", "/api/admin/tenants", adminToken, map[string]any{"name": name,
		"email": fmt.Sprintf("%s-%d@example.com", strings.ToLower(name), time.Now().UnixNano()), "plan": "pro",
		"subscription_status": "active"}, http.StatusCreated)
	return tenant{m.ID.String(), m.APIKey}
}

// run creates a project with a code and presses RUN; it returns the
// project and execution ids.
func (c client) run(tn tenant, name string) (projectID, executionID string) {
	p := call[models.Project](c, "POST", "/api/tenant/projects", tn.key, map[string]any{"name": name, "description": "d", "objectives": "o"}, http.StatusCreated)
	projectID = p.ID.String()
	codes := call[apptest.IssuedCodes](c, "POST", "/api/admin/tenants/"+tn.id+"/activation-codes", adminToken, map[string]any{"count": 1}, http.StatusCreated)
	if len(codes.Codes) != 1 {
		c.t.Fatalf("codes: %+v, want one", codes)
	}
	c.do("POST", "/api/tenant/projects/"+projectID+"/assign-activation-code", tn.key, map[string]any{"code": codes.Codes[0].Code}, http.StatusOK)
	r := call[apptest.RunAccepted](c, "POST", "/api/tenant/projects/"+projectID+"/run", tn.key, nil, http.StatusAccepted)
	return projectID, r.ExecutionID.String()
}

// waitAPI waits until the API process answers /readyz.
func (c client) waitAPI() {
	c.t.Helper()
	waitFor(c.t, "the API answers", 30*time.Second, func() (bool, string) {
		res, err := http.Get(c.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == 200, res.Status
	})
}

func readPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// executions reads the executions with these ids, in id order.
func executions(t *testing.T, gdb *gorm.DB, ids []string) []models.Execution {
	t.Helper()
	var rows []models.Execution
	if err := gdb.Where("id IN ?", ids).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestPastDuePausesAcrossWorkers: two separate `q2o worker` processes, every
// run slot busy, run a tenant's four long main.py runs and another tenant's
// two. A signed
// customer.subscription.updated to past_due stops every main.py of that
// tenant on both workers within seconds, marks every row paused, nothing
// starts again, and the other tenant's run goes on.
func TestPastDuePausesAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts q2o processes")
	}
	t.Parallel()
	bin := buildQ2O(t)
	dbURL := testenv.DatabaseURL(t)
	redisURL := testenv.RedisURL(t)
	outputRoot := t.TempDir()
	starts := filepath.Join(t.TempDir(), "starts")
	gdb, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })

	env := []string{
		"Q2O_DATABASE_URL=" + dbURL, "Q2O_REDIS_URL=" + redisURL, "Q2O_OUTPUT_ROOT=" + outputRoot,
		"Q2O_ADMIN_TOKEN=" + adminToken, "Q2O_LOG_FORMAT=text",
		// main.py's pid files are read from outside: no PID namespace.
		"Q2O_SANDBOX=off", "Q2O_LOG_LEVEL=info",
		"Q2O_RUNNER=python3 " + apptest.TestMainPy() + " --mode sleep --seconds 120 --counter " + starts,
		"Q2O_RUN_WATCH_INTERVAL=200ms", "Q2O_RUN_KILL_GRACE=1s", "Q2O_WORKER_POLL_INTERVAL=50ms",
		"Q2O_OUTBOX_INTERVAL=200ms", "Q2O_SHUTDOWN_TIMEOUT=2s",
		// Three run slots each for six runs: every slot busy (a pause must
		// not wait for one), and the payer's four runs are on both workers.
		"Q2O_WORKER_CONCURRENCY=3",
		"Q2O_STRIPE_WEBHOOK_SECRET=" + billingtest.WebhookSecret,
		"Q2O_STRIPE_SECRET_KEY=", "Q2O_STRIPE_REFETCH=false", "Q2O_PAST_DUE_GRACE=0s",
		"Q2O_SMTP_HOST=", "Q2O_METRICS_ADDR=", "Q2O_WORKER_HEALTH_ADDR=",
	}
	// Registered before the processes start, so it runs after they stopped:
	// never leave a sleeping main.py behind, whatever happened.
	var spawned []int
	t.Cleanup(func() {
		for _, pid := range spawned {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	addr := freeAddr(t)
	start(t, bin, "api", append(env, "Q2O_HTTP_ADDR="+addr), "api")
	start(t, bin, "worker-1", append(env, "Q2O_HTTP_ADDR="+freeAddr(t)), "worker")
	start(t, bin, "worker-2", append(env, "Q2O_HTTP_ADDR="+freeAddr(t)), "worker")
	api := client{t: t, base: "http://" + addr}
	waitFor(t, "the API answers", 30*time.Second, func() (bool, string) {
		res, err := http.Get(api.base + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == 200, res.Status
	})

	payer, other := api.tenant("Payer"), api.tenant("Other")
	// The payer's checkout links its Stripe customer and subscription.
	r := billingtest.Deliver(t, api.base, billingtest.Event{Type: "checkout.session.completed", Object: map[string]any{
		"id": "cs_e2e", "object": "checkout.session", "mode": "subscription", "client_reference_id": payer.id,
		"customer": "cus_e2e", "subscription": "sub_e2e"}})
	if r.Status != 200 || r.Body["outcome"] != "applied" {
		t.Fatalf("checkout.session.completed: %d %s", r.Status, r.Raw)
	}

	var payerProjects, payerExecs []string
	for i := range 4 {
		pid, eid := api.run(payer, fmt.Sprintf("long %d", i))
		payerProjects, payerExecs = append(payerProjects, pid), append(payerExecs, eid)
	}
	var otherProjects, otherExecs []string
	for i := range 2 {
		pid, eid := api.run(other, fmt.Sprintf("other tenant's run %d", i))
		otherProjects, otherExecs = append(otherProjects, pid), append(otherExecs, eid)
	}

	pidFiles := func(project string) (mainPID, childPID int, ok bool) {
		m, ok1 := readPID(filepath.Join(outputRoot, project, "main.pid"))
		c, ok2 := readPID(filepath.Join(outputRoot, project, "child.pid"))
		return m, c, ok1 && ok2
	}
	all := append(append([]string{}, payerProjects...), otherProjects...)
	waitFor(t, "all six runs running with main.py started", 30*time.Second, func() (bool, string) {
		rows := executions(t, gdb, append(append([]string{}, payerExecs...), otherExecs...))
		for _, e := range rows {
			if e.Status != "running" {
				return false, fmt.Sprintf("%+v", rows)
			}
		}
		for _, p := range all {
			if _, _, ok := pidFiles(p); !ok {
				return false, "waiting for main.pid/child.pid of " + p
			}
		}
		return len(rows) == 6, fmt.Sprintf("%d rows", len(rows))
	})
	workers := map[string]bool{}
	for _, e := range executions(t, gdb, payerExecs) {
		workers[*e.WorkerID] = true
	}
	if len(workers) < 2 {
		t.Fatalf("the payer's runs are all on one worker (%v); want them spread over both", workers)
	}
	var pids []int
	for _, p := range payerProjects {
		m, c, _ := pidFiles(p)
		pids = append(pids, m, c)
	}
	var otherPIDs []int
	for _, p := range otherProjects {
		m, c, _ := pidFiles(p)
		otherPIDs = append(otherPIDs, m, c)
	}
	for _, pid := range append(append([]int{}, pids...), otherPIDs...) {
		if !apptest.Alive(pid) {
			t.Fatalf("process %d is not running before the pause", pid)
		}
	}
	spawned = append(append(spawned, pids...), otherPIDs...)

	// Stripe says the payer is past due.
	sent := time.Now()
	r = billingtest.Deliver(t, api.base, billingtest.Event{Type: "customer.subscription.updated",
		Object: billingtest.Subscription{ID: "sub_e2e", Customer: "cus_e2e", Status: "past_due", PeriodEnd: time.Now().Add(24 * time.Hour)}.Object()})
	if r.Status != 200 || r.Body["outcome"] != "applied" {
		t.Fatalf("customer.subscription.updated: %d %s", r.Status, r.Raw)
	}
	waitFor(t, "every main.py of the payer gone", 10*time.Second, func() (bool, string) {
		var left []int
		for _, pid := range pids {
			if apptest.Alive(pid) {
				left = append(left, pid)
			}
		}
		return len(left) == 0, fmt.Sprintf("still alive: %v", left)
	})
	waitFor(t, "every row of the payer paused", 10*time.Second, func() (bool, string) {
		rows := executions(t, gdb, payerExecs)
		var ps []models.Project
		if err := gdb.Where("id IN ?", payerProjects).Find(&ps).Error; err != nil {
			t.Fatal(err)
		}
		var projects []models.ExecutionStatus
		for _, p := range ps {
			projects = append(projects, apptest.StatusOf(p))
		}
		for _, e := range rows {
			if e.Status != "paused" || e.Error == nil || !strings.Contains(*e.Error, "past_due") {
				return false, fmt.Sprintf("%+v", rows)
			}
		}
		for _, s := range projects {
			if s != "paused" {
				return false, fmt.Sprintf("projects %v", projects)
			}
		}
		return len(rows) == 4 && len(projects) == 4, fmt.Sprintf("%d rows", len(rows))
	})
	t.Logf("payer paused on both workers %s after the webhook", time.Since(sent).Round(time.Millisecond))
	if pausedEvents := apptest.Count[models.ExecutionEvent](t, gdb, "kind = ? AND execution_id IN ?", models.EventPaused, payerExecs); pausedEvents != 4 {
		t.Errorf("%d paused events, want one per execution", pausedEvents)
	}

	// Nothing starts again: no run task of the payer is left on Redis to
	// retry (the cancelled tasks' retries are deleted, and any one still
	// around is run now, to show it does nothing), and main.py was started
	// exactly six times over a window longer than several row watches.
	insp := asynq.NewInspector(mustRedisOpt(t, redisURL))
	defer insp.Close()
	waitFor(t, "no retry of a paused run left on Redis", 15*time.Second, func() (bool, string) {
		var left []string
		for _, id := range payerExecs {
			info, err := insp.GetTaskInfo(jobs.QueueRuns, id)
			if err != nil {
				continue // gone
			}
			switch info.State {
			case asynq.TaskStateRetry, asynq.TaskStateScheduled:
				_ = insp.RunTask(jobs.QueueRuns, id) // the claim must refuse it
				left = append(left, id+":"+info.State.String())
			case asynq.TaskStatePending, asynq.TaskStateActive:
				left = append(left, id+":"+info.State.String())
			}
		}
		return len(left) == 0, fmt.Sprintf("%v", left)
	})
	time.Sleep(2 * time.Second) // a window to see a restart in, not an assertion on time
	for _, e := range executions(t, gdb, payerExecs) {
		if e.Status != "paused" || e.Attempt != 1 {
			t.Errorf("execution %s after the pause: %+v", e.ID, e)
		}
	}
	if b, _ := os.ReadFile(starts); strings.Count(string(b), "\n") != 6 {
		t.Errorf("main.py started %d times, want 6:\n%s", strings.Count(string(b), "\n"), b)
	}
	for _, pid := range pids {
		if apptest.Alive(pid) {
			t.Errorf("process %d of the payer runs again", pid)
		}
	}

	// The other tenant's runs go on.
	for _, e := range executions(t, gdb, otherExecs) {
		if e.Status != "running" || e.Attempt != 1 {
			t.Errorf("other tenant's execution: %+v", e)
		}
	}
	for _, pid := range otherPIDs {
		if !apptest.Alive(pid) {
			t.Errorf("the other tenant's process %d was stopped", pid)
		}
	}
	// RUN is refused while the payer is past due.
	api.do("POST", "/api/tenant/projects/"+payerProjects[0]+"/run", payer.key, nil, http.StatusPaymentRequired)
	api.do("POST", "/api/tenant/projects/resume-all", payer.key, nil, http.StatusPaymentRequired)
}

func mustRedisOpt(t *testing.T, url string) asynq.RedisConnOpt {
	t.Helper()
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}
