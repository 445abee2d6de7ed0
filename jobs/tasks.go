// Package jobs names q2o's asynq tasks, builds them with their options, and
// delivers them through the transactional outbox: a task is first a row
// written in the same transaction as the rows it acts on, then sent to Redis
// right after commit by the caller and, should that fail, by the Relay.
package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/models"
)

// Task types.
const (
	TypeProjectRun  = "project:run"
	TypeProjectZip  = "project:zip"
	TypeTenantPause = "tenant:pause"
)

// Queues.
const (
	QueueControl   = "control"
	QueueRuns      = "runs"
	QueueArtifacts = "artifacts"
)

// QueueWeights are the asynq queue priorities: control tasks (pausing a
// tenant) go first, zips last.
var QueueWeights = map[string]int{QueueControl: 6, QueueRuns: 3, QueueArtifacts: 1}

// DefaultRetention keeps a finished task in Redis this long (Options.Retention,
// Q2O_TASK_RETENTION), so that the monitoring UI shows it and its result,
// and a late duplicate enqueue of the same TaskID is refused; Redis stays
// bounded by the runs of the last hour.
const DefaultRetention = time.Hour

// ExecutionPayload is the payload of project:run and project:zip. The
// worker trusts only ExecutionID (it reads the rest from the database);
// TenantID and ProjectID tell an operator in the monitoring UI whose task
// it is.
type ExecutionPayload struct {
	ExecutionID uuid.UUID `json:"execution_id"`
	TenantID    uuid.UUID `json:"tenant_id,omitempty"`
	ProjectID   uuid.UUID `json:"project_id,omitempty"`
}

// Run names the execution a project:run or project:zip task is about.
type Run struct {
	ExecutionID, TenantID, ProjectID uuid.UUID
}

func (r Run) payload() ExecutionPayload {
	return ExecutionPayload{ExecutionID: r.ExecutionID, TenantID: r.TenantID, ProjectID: r.ProjectID}
}

// PausePayload is the payload of tenant:pause.
type PausePayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Reason   string    `json:"reason"`
}

// RunMessage is the outbox row for running execution id. Its TaskID is the
// execution id, so the run is on Redis at most once.
func RunMessage(r Run) models.OutboxMessage {
	return message(TypeProjectRun, QueueRuns, r.ExecutionID.String(), r.payload())
}

// TakeoverMessage is the outbox row that hands a running execution whose
// worker stopped renewing its lease to another worker. Its TaskID names the
// attempt taken over: the dead worker's task may still sit in asynq's
// active list (until asynq's own recovery, a minute or two later), and
// holds the execution's own TaskID meanwhile. The execution lease decides
// who runs it; a late delivery of the old task does nothing.
func TakeoverMessage(r Run, attempt int) models.OutboxMessage {
	return message(TypeProjectRun, QueueRuns, fmt.Sprintf("%s:takeover:%d", r.ExecutionID, attempt), r.payload())
}

// ZipMessage is the outbox row for zipping execution id's output.
func ZipMessage(r Run) models.OutboxMessage {
	return message(TypeProjectZip, QueueArtifacts, "zip:"+r.ExecutionID.String(), r.payload())
}

// PauseMessage is the outbox row for pausing a tenant's runs.
func PauseMessage(tenantID uuid.UUID, reason string) models.OutboxMessage {
	return message(TypeTenantPause, QueueControl, "pause:"+models.NewID().String(), PausePayload{tenantID, reason})
}

func message(typ, queue, taskID string, payload any) models.OutboxMessage {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("jobs: marshal %s payload: %v", typ, err)) // the payloads above always marshal
	}
	return models.OutboxMessage{TaskType: typ, TaskID: taskID, Queue: queue, Payload: b}
}

// Options are the per-type task options that depend on settings.
type Options struct {
	// RunTimeout is the longest main.py may run; the task's own asynq
	// timeout is longer, so that the worker stops main.py itself and
	// records why before asynq gives up on the task.
	RunTimeout time.Duration
	KillGrace  time.Duration
	// Retention is how long a finished task stays in Redis
	// (DefaultRetention when zero).
	Retention time.Duration
}

// Task builds the asynq task for an outbox row.
func (o Options) Task(m models.OutboxMessage) *asynq.Task {
	retention := o.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	opts := []asynq.Option{asynq.Queue(m.Queue), asynq.TaskID(m.TaskID), asynq.Retention(retention)}
	switch m.TaskType {
	case TypeProjectRun:
		opts = append(opts, asynq.Timeout(o.RunTimeout+o.KillGrace+time.Minute), asynq.MaxRetry(5))
	case TypeProjectZip:
		opts = append(opts, asynq.Timeout(time.Hour), asynq.MaxRetry(10))
	case TypeTenantPause:
		opts = append(opts, asynq.Timeout(5*time.Minute), asynq.MaxRetry(25))
	}
	return asynq.NewTask(m.TaskType, m.Payload, opts...)
}
