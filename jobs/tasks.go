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

// Retention keeps a finished task in Redis this long, so that the monitoring
// UI shows it and a late duplicate enqueue of the same TaskID is refused.
const Retention = 24 * time.Hour

// ExecutionPayload is the payload of project:run and project:zip.
type ExecutionPayload struct {
	ExecutionID uuid.UUID `json:"execution_id"`
}

// PausePayload is the payload of tenant:pause.
type PausePayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Reason   string    `json:"reason"`
}

// RunMessage is the outbox row for running execution id. Its TaskID is the
// execution id, so the run is on Redis at most once.
func RunMessage(executionID uuid.UUID) models.OutboxMessage {
	return message(TypeProjectRun, QueueRuns, executionID.String(), ExecutionPayload{executionID})
}

// TakeoverMessage is the outbox row that hands a running execution whose
// worker stopped renewing its lease to another worker. Its TaskID names the
// attempt taken over: the dead worker's task may still sit in asynq's
// active list (until asynq's own recovery, a minute or two later), and
// holds the execution's own TaskID meanwhile. The execution lease decides
// who runs it; a late delivery of the old task does nothing.
func TakeoverMessage(executionID uuid.UUID, attempt int) models.OutboxMessage {
	return message(TypeProjectRun, QueueRuns, fmt.Sprintf("%s:takeover:%d", executionID, attempt), ExecutionPayload{executionID})
}

// ZipMessage is the outbox row for zipping execution id's output.
func ZipMessage(executionID uuid.UUID) models.OutboxMessage {
	return message(TypeProjectZip, QueueArtifacts, "zip:"+executionID.String(), ExecutionPayload{executionID})
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
}

// Task builds the asynq task for an outbox row.
func (o Options) Task(m models.OutboxMessage) *asynq.Task {
	opts := []asynq.Option{asynq.Queue(m.Queue), asynq.TaskID(m.TaskID), asynq.Retention(Retention)}
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
