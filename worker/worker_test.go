package worker_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func run(t *testing.T, a *apptest.App, tn apptest.Tenant, pid string) string {
	t.Helper()
	return a.Run(tn.Key, pid)
}

func execution(t *testing.T, a *apptest.App, tn apptest.Tenant, pid, eid string) apptest.Execution {
	t.Helper()
	return a.GetExecution(tn.Key, pid, eid)
}

func TestRunCompletes(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "Todo app")
	eid := run(t, a, tn, pid)

	p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	if p.Progress != 100 || p.ExecutionCompletedAt == nil || p.ExecutionStartedAt == nil || p.ExecutionError != nil {
		t.Errorf("completed project: %+v", p)
	}
	dir := apptest.Deref(p.OutputFolderPath)
	if got := apptest.ReadFile(t, filepath.Join(dir, "src", "app.py")); !strings.Contains(got, "Todo app") {
		t.Errorf("output file: %q", got)
	}
	log := apptest.ReadFile(t, filepath.Join(dir, "run.log"))
	for _, want := range []string{"starting the agents", "PROGRESS 50 writing code", "a warning on stderr"} {
		if !strings.Contains(log, want) {
			t.Errorf("run.log lacks %q:\n%s", want, log)
		}
	}

	// The zip is recorded with the completion, by the run's own handler:
	// no project:zip task is queued.
	if row := apptest.Row[models.Execution](t, a.DB, uuid.MustParse(eid)); row.ZipPath == nil {
		t.Error("completed execution without its zip")
	}
	apptest.RequireOutbox(t, a.DB, jobs.TypeProjectZip, 0)
	var e apptest.Execution
	deadline := time.Now().Add(20 * time.Second)
	for {
		e = execution(t, a, tn, pid, eid)
		if e.DownloadURL != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e.Status != models.StatusCompleted || e.ExitCode == nil || *e.ExitCode != 0 || e.Attempt != 1 || e.DownloadURL == nil {
		t.Fatalf("execution: %+v", e)
	}
	zr, err := zip.OpenReader(a.Paths(eid).Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	if !names["src/app.py"] || !names["README.md"] || names["run.log"] || names[".env"] {
		t.Errorf("zip entries: %v", names)
	}
	if apptest.Deref(e.ZipSize) <= 0 {
		t.Errorf("zip size: %v", e.ZipSize)
	}
	joined := strings.Join(e.Kinds(), ",")
	if !strings.HasPrefix(joined, "queued,started,progress") || !strings.Contains(joined, "completed") || !strings.HasSuffix(joined, "zipped") {
		t.Errorf("events: %s", joined)
	}
	// The handler counts the run once its end is recorded: the row can be
	// seen a moment before.
	var started, done float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		started, done = testutil.ToFloat64(a.Metrics.RunsStarted), testutil.ToFloat64(a.Metrics.RunsFinished.WithLabelValues("completed"))
		if done >= 1 || time.Now().After(deadline) {
			break
		}
	}
	if started != 1 || done != 1 {
		t.Errorf("run metrics: started %v, completed %v; want 1 and 1", started, done)
	}
}

func TestRunFails(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode fail"))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "doomed")
	eid := run(t, a, tn, pid)
	p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusFailed))
	msg := apptest.Deref(p.ExecutionError)
	if !strings.Contains(msg, "exited with code 1") || !strings.Contains(msg, "RuntimeError: the agents could not agree") {
		t.Errorf("execution_error: %q", msg)
	}
	if strings.Contains(msg, "noise line 0\n") {
		t.Errorf("execution_error holds the head of stderr, want its tail: %q", msg)
	}
	e := execution(t, a, tn, pid, eid)
	if apptest.Deref(e.ExitCode) != 1 || e.Attempt != 1 {
		t.Errorf("execution: %+v", e)
	}
	// A failed run is not retried: its task is archived at once (SkipRetry),
	// not scheduled for a retry (asynq's retry delay is 15 s or more, so
	// waiting would prove nothing).
	insp := asynq.NewInspector(a.RedisOpt)
	defer insp.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := insp.GetTaskInfo(jobs.QueueRuns, eid)
		if err == nil && info.State == asynq.TaskStateArchived {
			break
		}
		if err == nil && info.State == asynq.TaskStateRetry {
			t.Fatalf("the failed run's task is waiting for a retry (%d retried)", info.Retried)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed run's task is not archived: %v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e := execution(t, a, tn, pid, eid); e.Attempt != 1 || e.Status != models.StatusFailed {
		t.Errorf("failed run retried: %+v", e)
	}
	// And it can be RUN again, as a new execution.
	if eid2 := run(t, a, tn, pid); eid2 == eid {
		t.Error("second run reused the execution id")
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig("--mode sleep --seconds 60 --stubborn")
	// Long enough for python3 to start and fork its child (child.pid) on a
	// busy 2-core machine, where 2 s was not always.
	cfg.RunTimeout = 6 * time.Second
	cfg.KillGrace = 300 * time.Millisecond
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "slow")
	run(t, a, tn, pid)
	p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusFailed))
	if msg := apptest.Deref(p.ExecutionError); !strings.Contains(msg, "timed out") {
		t.Errorf("execution_error: %q", msg)
	}
	if n := testutil.ToFloat64(a.Metrics.RunsFinished.WithLabelValues("timed_out")); n != 1 {
		t.Errorf("q2o_runs_finished_total{outcome=timed_out} = %v, want 1", n)
	}
	// main.py ignored SIGTERM and had a child: both must be gone.
	for _, name := range []string{"main.pid", "child.pid"} {
		pid, err := strconv.Atoi(strings.TrimSpace(apptest.ReadFile(t, filepath.Join(apptest.Deref(p.OutputFolderPath), name))))
		if err != nil {
			t.Fatal(err)
		}
		if apptest.Alive(pid) {
			t.Errorf("%s %d still runs after the timeout", name, pid)
		}
	}
}

func TestHostileNameIsOneArgument(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode argv"))
	tn := a.NewTenant("active")
	marker := filepath.Join(t.TempDir(), "pwned")
	name := `x"; touch ` + marker + `; echo "`
	pid := a.CreateProject(tn.Key, name, "$(touch "+marker+")", "`touch "+marker+"`")
	_, code := a.Code(tn.ID, nil)
	a.Must(200, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	run(t, a, tn, pid)
	p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	var got struct {
		Argv []string          `json:"argv"`
		Env  map[string]string `json:"env"`
		Cwd  string            `json:"cwd"`
	}
	dir := apptest.Deref(p.OutputFolderPath)
	if err := json.Unmarshal([]byte(apptest.ReadFile(t, filepath.Join(dir, "argv.json"))), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got.Argv, "--project-name="+name) {
		t.Errorf("project name did not arrive as one argv element: %q", got.Argv)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a shell ran: %s exists", marker)
	}
	if got.Env["Q2O_PROJECT_ID"] != pid || got.Env["Q2O_OUTPUT_DIR"] != dir || got.Env["Q2O_TENANT_ID"] != tn.ID {
		t.Errorf("main.py env lacks the Q2O_* run variables: %v", got.Env)
	}
	if got.Cwd != dir {
		t.Errorf("cwd %q, want the output folder %q", got.Cwd, dir)
	}
}

func TestRedisDownRunStillAccepted(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{EnqueueRedisURL: "redis://127.0.0.1:1/0"})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "outbox")
	eid := run(t, a, tn, pid)

	if unsent := len(apptest.Outbox(t, a.DB, jobs.TypeProjectRun, "task_id = ? AND enqueued_at IS NULL", eid)); unsent != 1 {
		t.Fatalf("want the run's task waiting in the outbox, got %d rows", unsent)
	}
	// Redis is back: a relay with a working Redis sends it, a worker runs it.
	a.StartWorker(a.WorkerConfig())
	client := asynq.NewClient(a.RedisOpt)
	defer client.Close()
	relay := &jobs.Enqueuer{DB: a.DB, Client: client, Log: a.Log, Options: jobs.Options{RunTimeout: time.Minute, KillGrace: time.Second}}
	apptest.Set[models.OutboxMessage](t, a.DB, "next_attempt_at", gorm.Expr("now()"), "true")
	if n, err := relay.RelayOnce(context.Background(), 100); err != nil || n != 1 {
		t.Fatalf("relay sent %d, err %v", n, err)
	}
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))

	// The worker's enqueuer still cannot reach Redis, but the completed run
	// needs no task of it: its zip was written and recorded with its
	// completion, so nothing waits in the outbox.
	if zipped := apptest.Count[models.Execution](t, a.DB, "id = ? AND zip_path IS NOT NULL", eid); zipped != 1 {
		t.Error("the completed run's zip is not recorded")
	}
	if unsent := apptest.Count[models.OutboxMessage](t, a.DB, "enqueued_at IS NULL"); unsent != 0 {
		t.Errorf("%d unsent outbox rows after the run, want none", unsent)
	}
	if n, err := relay.RelayOnce(context.Background(), 100); err != nil || n != 0 {
		t.Errorf("second relay sent %d, err %v", n, err)
	}
}

func TestDeliveredTwiceRunsOnce(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{EnqueueRedisURL: "redis://127.0.0.1:1/0"}) // the tasks stay in the outbox
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "twice")
	eid := run(t, a, tn, pid)
	counter := filepath.Join(t.TempDir(), "starts")
	w, stop := a.StartWorker(a.WorkerConfig("--counter " + counter + " --seconds 1"))
	stop() // only its handlers are used, called directly below

	payload, _ := json.Marshal(jobs.ExecutionPayload{ExecutionID: uuid.MustParse(eid)})
	task := asynq.NewTask(jobs.TypeProjectRun, payload)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.HandleRun(context.Background(), task) }()
	}
	wg.Wait()
	errs[2] = w.HandleRun(context.Background(), task) // a late redelivery
	starts := strings.Count(apptest.ReadFile(t, counter), "\n")
	if starts != 1 {
		t.Errorf("main.py started %d times, want 1", starts)
	}
	held := 0
	for _, err := range errs {
		if errors.Is(err, service.ErrHeldElsewhere) {
			held++
		} else if err != nil {
			t.Errorf("handler: %v", err)
		}
	}
	if held != 1 {
		t.Errorf("want the concurrent duplicate refused as held elsewhere, got errors %v", errs)
	}
	if e := execution(t, a, tn, pid, eid); e.Status != models.StatusCompleted || e.Attempt != 1 {
		t.Errorf("execution: %+v", e)
	}
}

// SIGTERM to a worker in the middle of a run (its Run context ends): the
// worker lets the run go on for ShutdownTimeout, then stops main.py's process
// group and hands the task back; another worker runs it again from the start
// as attempt 2, to completed.
func TestShutdownHandsRunToAnotherWorker(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfgA := a.WorkerConfig("--mode sleep --seconds 4")
	cfgA.ID, cfgA.ShutdownTimeout = "worker-a", time.Second
	_, stopA := a.StartWorker(cfgA)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "handover")
	eid := run(t, a, tn, pid)
	p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	dir := apptest.Deref(p.OutputFolderPath)
	childFile := filepath.Join(dir, "child.pid")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(childFile); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	firstChild, err := strconv.Atoi(strings.TrimSpace(apptest.ReadFile(t, childFile)))
	if err != nil {
		t.Fatal(err)
	}
	if w := a.Paths(eid).Worker; w != "worker-a" {
		t.Fatalf("run not on worker-a: %v", w)
	}

	cfgB := a.WorkerConfig("--mode sleep --seconds 4")
	cfgB.ID = "worker-b"
	a.StartWorker(cfgB)
	stopA() // returns once worker-a has stopped main.py and handed the task back
	if apptest.Alive(firstChild) {
		t.Errorf("worker-a's main.py child %d outlived the shutdown", firstChild)
	}

	a.AwaitProject(tn.Key, pid, 60*time.Second, apptest.HasStatus(models.StatusCompleted))
	e := execution(t, a, tn, pid, eid)
	if e.Attempt != 2 || a.Paths(eid).Worker != "worker-b" || e.Status != models.StatusCompleted {
		t.Errorf("execution after hand-over: attempt %v on %v, %v", e.Attempt, a.Paths(eid).Worker, e.Status)
	}
	if j := strings.Join(e.Kinds(), ","); !strings.Contains(j, "retrying,started") || !strings.HasSuffix(strings.TrimSuffix(j, ",zipped"), "started,progress,progress,completed") {
		t.Errorf("events: %s", j)
	}
	if log := apptest.ReadFile(t, filepath.Join(dir, "run.log")); !strings.Contains(log, "attempt 2") {
		t.Errorf("run.log does not mark the second attempt:\n%s", log)
	}
}
