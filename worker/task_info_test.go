package worker_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// What an operator sees of a run's task in the monitoring UI: whose it is
// (payload) and how it ended (result), kept one hour.
func TestRunTaskSaysWhoseItIsAndHowItEnded(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "inspected")
	eid := run(t, a, tn, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	insp := asynq.NewInspector(a.RedisOpt)
	defer insp.Close()
	var info *asynq.TaskInfo
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		info, err = insp.GetTaskInfo(jobs.QueueRuns, eid)
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task: %v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var payload jobs.ExecutionPayload
	if err := json.Unmarshal(info.Payload, &payload); err != nil || payload.ExecutionID.String() != eid ||
		payload.TenantID.String() != tn.ID || payload.ProjectID.String() != pid {
		t.Errorf("payload %s: %v", info.Payload, err)
	}
	var result struct {
		Outcome  string `json:"outcome"`
		ExitCode *int   `json:"exit_code"`
		Attempt  int    `json:"attempt"`
	}
	if err := json.Unmarshal(info.Result, &result); err != nil || result.Outcome != "completed" || result.ExitCode == nil ||
		*result.ExitCode != 0 || result.Attempt != 1 {
		t.Errorf("result %q: %v", info.Result, err)
	}
	if info.Retention != jobs.DefaultRetention {
		t.Errorf("kept %s, want %s", info.Retention, jobs.DefaultRetention)
	}
}
