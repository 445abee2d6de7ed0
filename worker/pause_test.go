package worker_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
)

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() (bool, any)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state: %v", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pidIn(t *testing.T, dir, name string) int {
	t.Helper()
	var pid int
	waitUntil(t, name+" written", 20*time.Second, func() (bool, any) {
		b, err := readFile(filepath.Join(dir, name))
		if err != nil {
			return false, err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(b))
		return err == nil && pid > 0, b
	})
	return pid
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func taskState(insp *asynq.Inspector, id string) string {
	info, err := insp.GetTaskInfo(jobs.QueueRuns, id)
	if err != nil {
		return "gone"
	}
	return info.State.String()
}

// A tenant:pause stops the running main.py, takes the queued run off the
// queue, leaves no retry of the cancelled task behind, and marks both rows
// paused with an event; running it again changes nothing more.
func TestPauseStopsRunningAndQueued(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig("--mode sleep --seconds 60")
	cfg.Concurrency = 1 // the second run waits in the queue
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	p1, p2 := a.ReadyProject(tn, "running"), a.ReadyProject(tn, "queued")
	e1 := run(t, a, tn, p1)
	pr := a.WaitProject(tn.Key, p1, 20*time.Second, apptest.StatusIs("running"))
	e2 := run(t, a, tn, p2)
	dir := pr["output_folder_path"].(string)
	mainPID, childPID := pidIn(t, dir, "main.pid"), pidIn(t, dir, "child.pid")
	insp := asynq.NewInspector(a.RedisOpt)
	defer insp.Close()
	// The worker's one slot is taken: the second run waits in q2o's queue
	// (not yet on Redis).
	waitUntil(t, "second run waiting for a slot", 5*time.Second, func() (bool, any) {
		p := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+p2, tn.Key, nil))
		return p["queue_position"] == float64(1) && taskState(insp, e2) == "gone", p["queue_position"]
	})

	a.Must(http.StatusOK, a.Do("PUT", "/api/admin/tenants/"+tn.ID+"/subscription", apptest.AdminToken, map[string]any{"status": "unpaid"}))
	waitUntil(t, "main.py and its child gone", 10*time.Second, func() (bool, any) {
		return !apptest.Alive(mainPID) && !apptest.Alive(childPID), []bool{apptest.Alive(mainPID), apptest.Alive(childPID)}
	})
	for _, pid := range []string{p1, p2} {
		p := a.WaitProject(tn.Key, pid, 10*time.Second, apptest.StatusIs("paused"))
		if msg, _ := p["execution_error"].(string); !strings.Contains(msg, "unpaid") {
			t.Errorf("project %s: execution_error %q", pid, msg)
		}
	}
	waitUntil(t, "no run task left to retry", 15*time.Second, func() (bool, any) {
		s1, s2 := taskState(insp, e1), taskState(insp, e2)
		return (s1 == "gone" || s1 == "completed") && s2 == "gone", []string{s1, s2}
	})
	events := func() int {
		n := 0
		for _, ev := range execution(t, a, tn, p1, e1)["events"].([]any) {
			if ev.(map[string]any)["kind"] == "paused" {
				n++
			}
		}
		return n
	}
	if n := events(); n != 1 {
		t.Errorf("%d paused events, want 1", n)
	}
	// Idempotent: a second pause finds nothing live.
	again, err := a.Svc.PauseTenant(context.Background(), uuid.MustParse(tn.ID), "again")
	if err != nil || len(again) != 0 || events() != 1 {
		t.Errorf("second pause: %d paused, err %v, events %d", len(again), err, events())
	}
	if e := execution(t, a, tn, p1, e1); e["attempt"] != float64(1) || e["status"] != "paused" {
		t.Errorf("execution after pause: %v", e)
	}
}

// The worker stops main.py by watching its row even when no cancel message
// reaches it: here the rows are paused directly, with no asynq cancel at all.
func TestPauseWithoutCancelMessage(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 60"))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "deaf worker")
	eid := run(t, a, tn, pid)
	dir := a.WaitProject(tn.Key, pid, 20*time.Second, apptest.StatusIs("running"))["output_folder_path"].(string)
	mainPID, childPID := pidIn(t, dir, "main.pid"), pidIn(t, dir, "child.pid")

	a.DB.Exec("UPDATE subscriptions SET status = 'past_due' WHERE tenant_id = ?", tn.ID)
	paused, err := a.Svc.PauseTenant(context.Background(), uuid.MustParse(tn.ID), "subscription past_due")
	if err != nil || len(paused) != 1 {
		t.Fatalf("PauseTenant: %d, %v", len(paused), err)
	}
	waitUntil(t, "main.py and its child gone", 10*time.Second, func() (bool, any) {
		return !apptest.Alive(mainPID) && !apptest.Alive(childPID), []bool{apptest.Alive(mainPID), apptest.Alive(childPID)}
	})
	insp := asynq.NewInspector(a.RedisOpt)
	defer insp.Close()
	// Stopped by its own worker, the task ends as done, not as a retry.
	waitUntil(t, "task completed", 10*time.Second, func() (bool, any) { s := taskState(insp, eid); return s == "completed", s })
	if e := execution(t, a, tn, pid, eid); e["status"] != "paused" || e["attempt"] != float64(1) {
		t.Errorf("execution: %v", e)
	}
}

// A pause that arrives when the subscription may run again (a past_due
// grace that ended in payment) leaves the tenant's runs alone.
func TestPauseSkipsTenantActiveAgain(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "keeps going")
	run(t, a, tn, pid)
	paused, err := a.Svc.PauseTenant(context.Background(), uuid.MustParse(tn.ID), "late")
	if err != nil || len(paused) != 0 {
		t.Fatalf("pause of an active tenant: %d paused, %v", len(paused), err)
	}
	if p := a.Must(200, a.Do("GET", "/api/tenant/projects/"+pid, tn.Key, nil)); p["execution_status"] != "pending" {
		t.Errorf("project: %v", p["execution_status"])
	}
}

// Active again, paused projects stay paused until the tenant resumes them;
// resume-all runs each through RUN's gates.
func TestResumeAllAfterReactivation(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 60"))
	tn := a.NewTenant("active")
	p1, p2 := a.ReadyProject(tn, "one"), a.ReadyProject(tn, "two")
	e1, e2 := run(t, a, tn, p1), run(t, a, tn, p2)
	a.WaitProject(tn.Key, p1, 20*time.Second, apptest.StatusIs("running"))
	a.Must(http.StatusOK, a.Do("PUT", "/api/admin/tenants/"+tn.ID+"/subscription", apptest.AdminToken, map[string]any{"status": "canceled"}))
	a.WaitProject(tn.Key, p1, 10*time.Second, apptest.StatusIs("paused"))
	a.WaitProject(tn.Key, p2, 10*time.Second, apptest.StatusIs("paused"))
	if r := a.Do("POST", "/api/tenant/projects/resume-all", tn.Key, nil); r.Status != http.StatusPaymentRequired || r.ErrorCode(t) != "subscription_inactive" {
		t.Errorf("resume-all while canceled: %d %s", r.Status, r.Body)
	}

	a.Must(http.StatusOK, a.Do("PUT", "/api/admin/tenants/"+tn.ID+"/subscription", apptest.AdminToken, map[string]any{"status": "active"}))
	time.Sleep(300 * time.Millisecond) // a moment in which nothing may resume by itself
	for _, pid := range []string{p1, p2} {
		if p := a.Must(200, a.Do("GET", "/api/tenant/projects/"+pid, tn.Key, nil)); p["execution_status"] != "paused" {
			t.Errorf("project %s resumed by itself: %v", pid, p["execution_status"])
		}
	}
	res := a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/resume-all", tn.Key, nil))
	if res["resumed"] != float64(2) {
		t.Fatalf("resume-all: %v", res)
	}
	for _, item := range res["projects"].([]any) {
		m := item.(map[string]any)
		if eid, _ := m["execution_id"].(string); eid == "" || eid == e1 || eid == e2 {
			t.Errorf("resumed project: %v", m)
		}
	}
	a.WaitProject(tn.Key, p1, 20*time.Second, apptest.StatusIs("running"))
	// Nothing is paused any more: a second resume-all resumes nothing.
	if res := a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/resume-all", tn.Key, nil)); res["resumed"] != float64(0) {
		t.Errorf("second resume-all: %v", res)
	}
}

// A trialing tenant runs one project at a time: resume-all resumes both
// paused projects; the second waits its turn.
func TestResumeAllTrialLimit(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	p1, p2 := a.ReadyProject(tn, "one"), a.ReadyProject(tn, "two")
	run(t, a, tn, p1)
	run(t, a, tn, p2)
	a.DB.Exec("UPDATE subscriptions SET status = 'past_due' WHERE tenant_id = ?", tn.ID)
	if _, err := a.Svc.PauseTenant(context.Background(), uuid.MustParse(tn.ID), "subscription past_due"); err != nil {
		t.Fatal(err)
	}
	a.DB.Exec("UPDATE subscriptions SET status = 'trialing' WHERE tenant_id = ?", tn.ID)
	res := a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/resume-all", tn.Key, nil))
	if res["resumed"] != float64(2) {
		t.Fatalf("resume-all on trial: %v", res)
	}
	positions := map[any]int{}
	for _, pid := range []string{p1, p2} {
		positions[a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+pid, tn.Key, nil))["queue_position"]]++
	}
	if positions[nil] != 1 || positions[float64(1)] != 1 {
		t.Errorf("queue positions after resume-all on trial: %v, want one dispatched and one first in line", positions)
	}
}
