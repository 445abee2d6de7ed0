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
	"github.com/q2o/q2o/models"
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
	pr := a.AwaitProject(tn.Key, p1, 20*time.Second, apptest.HasStatus(models.StatusRunning))
	e2 := run(t, a, tn, p2)
	dir := apptest.Deref(pr.OutputFolderPath)
	mainPID, childPID := pidIn(t, dir, "main.pid"), pidIn(t, dir, "child.pid")
	insp := asynq.NewInspector(a.RedisOpt)
	defer insp.Close()
	// The worker's one slot is taken: the second run waits in q2o's queue
	// (not yet on Redis).
	waitUntil(t, "second run waiting for a slot", 5*time.Second, func() (bool, any) {
		p := a.GetProject(tn.Key, p2)
		return apptest.Deref(p.QueuePosition) == 1 && taskState(insp, e2) == "gone", p.QueuePosition
	})

	a.SetSubscription(tn.ID, models.SubUnpaid)
	waitUntil(t, "main.py and its child gone", 10*time.Second, func() (bool, any) {
		return !apptest.Alive(mainPID) && !apptest.Alive(childPID), []bool{apptest.Alive(mainPID), apptest.Alive(childPID)}
	})
	for _, pid := range []string{p1, p2} {
		p := a.AwaitProject(tn.Key, pid, 10*time.Second, apptest.HasStatus(models.StatusPaused))
		if msg := apptest.Deref(p.ExecutionError); !strings.Contains(msg, "unpaid") {
			t.Errorf("project %s: execution_error %q", pid, msg)
		}
	}
	waitUntil(t, "no run task left to retry", 15*time.Second, func() (bool, any) {
		s1, s2 := taskState(insp, e1), taskState(insp, e2)
		return (s1 == "gone" || s1 == "completed") && s2 == "gone", []string{s1, s2}
	})
	events := func() int {
		n := 0
		for _, kind := range execution(t, a, tn, p1, e1).Kinds() {
			if kind == models.EventPaused {
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
	if e := execution(t, a, tn, p1, e1); e.Attempt != 1 || e.Status != models.StatusPaused {
		t.Errorf("execution after pause: %+v", e)
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
	dir := apptest.Deref(a.AwaitProject(tn.Key, pid, 20*time.Second, apptest.HasStatus(models.StatusRunning)).OutputFolderPath)
	mainPID, childPID := pidIn(t, dir, "main.pid"), pidIn(t, dir, "child.pid")

	apptest.Set[models.Subscription](t, a.DB, "status", models.SubPastDue, "tenant_id = ?", tn.ID)
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
	if e := execution(t, a, tn, pid, eid); e.Status != models.StatusPaused || e.Attempt != 1 {
		t.Errorf("execution: %+v", e)
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
	if s := apptest.StatusOf(a.GetProject(tn.Key, pid)); s != models.StatusPending {
		t.Errorf("project: %v", s)
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
	a.AwaitProject(tn.Key, p1, 20*time.Second, apptest.HasStatus(models.StatusRunning))
	a.SetSubscription(tn.ID, models.SubCanceled)
	a.AwaitProject(tn.Key, p1, 10*time.Second, apptest.HasStatus(models.StatusPaused))
	a.AwaitProject(tn.Key, p2, 10*time.Second, apptest.HasStatus(models.StatusPaused))
	if r := a.Do("POST", "/api/tenant/projects/resume-all", tn.Key, nil); r.Status != http.StatusPaymentRequired || r.ErrorCode(t) != "subscription_inactive" {
		t.Errorf("resume-all while canceled: %d %s", r.Status, r.Body)
	}

	a.SetSubscription(tn.ID, models.SubActive)
	time.Sleep(300 * time.Millisecond) // a moment in which nothing may resume by itself
	for _, pid := range []string{p1, p2} {
		if s := apptest.StatusOf(a.GetProject(tn.Key, pid)); s != models.StatusPaused {
			t.Errorf("project %s resumed by itself: %v", pid, s)
		}
	}
	res := a.ResumeAll(tn.Key)
	if res.Resumed != 2 {
		t.Fatalf("resume-all: %+v", res)
	}
	for _, m := range res.Projects {
		if eid := m.ExecutionID; eid == nil || eid.String() == e1 || eid.String() == e2 {
			t.Errorf("resumed project: %+v", m)
		}
	}
	a.AwaitProject(tn.Key, p1, 20*time.Second, apptest.HasStatus(models.StatusRunning))
	// Nothing is paused any more: a second resume-all resumes nothing.
	if res := a.ResumeAll(tn.Key); res.Resumed != 0 {
		t.Errorf("second resume-all: %+v", res)
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
	apptest.Set[models.Subscription](t, a.DB, "status", models.SubPastDue, "tenant_id = ?", tn.ID)
	if _, err := a.Svc.PauseTenant(context.Background(), uuid.MustParse(tn.ID), "subscription past_due"); err != nil {
		t.Fatal(err)
	}
	apptest.Set[models.Subscription](t, a.DB, "status", models.SubTrialing, "tenant_id = ?", tn.ID)
	if res := a.ResumeAll(tn.Key); res.Resumed != 2 {
		t.Fatalf("resume-all on trial: %+v", res)
	}
	var dispatched, firstInLine int
	var positions []any
	for _, pid := range []string{p1, p2} {
		q := a.GetProject(tn.Key, pid).QueuePosition
		switch {
		case q == nil:
			dispatched++
			positions = append(positions, nil)
		case *q == 1:
			firstInLine++
			positions = append(positions, *q)
		default:
			positions = append(positions, *q)
		}
	}
	if dispatched != 1 || firstInLine != 1 {
		t.Errorf("queue positions after resume-all on trial: %v, want one dispatched and one first in line", positions)
	}
}
