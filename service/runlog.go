package service

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/models"
)

// This file is the run logs as the service sees them: which file holds an
// execution's output (RunLog), and keeping it when the run ends. The files
// themselves (run.log, its header, the kept copy) are artifacts'.

// RunLogHeader is artifacts.RunLogHeader of execution execID, which the
// worker writes into run.log when an attempt starts.
func RunLogHeader(execID uuid.UUID, attempt int, at time.Time) string {
	return artifacts.RunLogHeader(execID.String(), attempt, at)
}

// Limits of the logs API's tail.
const (
	DefaultLogTail = 100
	MaxLogTail     = 10000
)

// ErrLogNotFound answers a request for a log that does not exist (or is not
// a plain file).
var ErrLogNotFound = models.Errorf(models.KindNotFound, "log_not_found", "no log for this execution")

// LogQuery is what a tenant asks of a run log, as the query string gave it.
type LogQuery struct {
	// Tail is how many of the last lines to give: 0 to MaxLogTail; empty
	// means DefaultLogTail.
	Tail string
	// ExecutionID picks an execution of the project; empty means the
	// project's latest.
	ExecutionID string
}

// RunLog says which file holds one execution's output.
//
// While an execution runs, and until it ends, its output is the project's
// run.log. When the run ends (completed, failed or paused) the worker copies
// run.log to OUTPUT_ROOT/_artifacts/<project_id>/<execution_id>.log and
// records that path as the execution's log_path, so the log of every ended
// run stays readable after the next run empties run.log. Final is then true:
// the file will not change.
type RunLog struct {
	ProjectID   uuid.UUID
	ExecutionID uuid.UUID
	Status      models.ExecutionStatus
	Tail        int
	Path        string
	Final       bool
}

// RunLog finds the log of one of the tenant's executions: q.ExecutionID, or
// the project's latest.
// Errors: invalid_tail (400), project_not_found, execution_not_found (404,
// also for another tenant's or project's, or a malformed id), log_not_found
// (404: the project never ran, or an older run's log was not kept).
func (s *Service) RunLog(ctx context.Context, tenantID, projectID uuid.UUID, q LogQuery) (RunLog, error) {
	l := RunLog{ProjectID: projectID, Tail: DefaultLogTail}
	if q.Tail != "" {
		n, err := strconv.Atoi(q.Tail)
		if err != nil || n < 0 || n > MaxLogTail {
			return l, models.FieldError("tail", "invalid_tail", "tail must be a whole number from 0 to %d", MaxLogTail)
		}
		l.Tail = n
	}
	p, err := s.Project(ctx, tenantID, projectID)
	if err != nil {
		return l, err
	}
	if q.ExecutionID == "" {
		if p.LatestExecutionID == nil {
			return l, models.Errorf(models.KindNotFound, "log_not_found", "the project has not run yet")
		}
		l.ExecutionID = *p.LatestExecutionID
	} else {
		id, err := uuid.Parse(q.ExecutionID)
		if err != nil || id.String() != strings.ToLower(q.ExecutionID) {
			return l, models.ErrExecutionNotFound
		}
		l.ExecutionID = id
	}
	var e models.Execution
	err = s.DB.WithContext(ctx).Where("id = ? AND project_id = ? AND tenant_id = ?", l.ExecutionID, projectID, tenantID).Take(&e).Error
	if err != nil {
		return l, notFound(err, models.ErrExecutionNotFound)
	}
	l.Status = e.Status
	runLog := filepath.Join(e.OutputDir, artifacts.RunLog)
	switch {
	case e.LogPath != nil && *e.LogPath != runLog:
		l.Path, l.Final = *e.LogPath, true
	case p.LatestExecutionID != nil && *p.LatestExecutionID == e.ID:
		l.Path = runLog
	default:
		return l, models.Errorf(models.KindNotFound, "log_not_found", "the log of this execution was not kept")
	}
	return l, nil
}

// Open opens the log for reading. It returns a nil file and no error when
// the execution has no output yet: run.log is missing, or still holds an
// earlier execution's output (a new run empties it only when it starts).
// The file must be a regular file with one link (artifacts.OpenPlainFile).
// Errors: log_not_found (404) for a kept log that is gone or for anything
// but a plain file.
func (l RunLog) Open() (*os.File, error) {
	f, err := openLog(l.Path)
	if errors.Is(err, fs.ErrNotExist) && !l.Final {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !l.Final && !artifacts.HoldsRun(f, l.ExecutionID.String()) {
		_ = f.Close()
		return nil, nil
	}
	return f, nil
}

// openLog is artifacts.OpenPlainFile with log_not_found for what is not a
// plain file.
func openLog(path string) (*os.File, error) {
	f, err := artifacts.OpenPlainFile(path)
	if errors.Is(err, artifacts.ErrNotPlainFile) {
		return nil, ErrLogNotFound
	}
	return f, err
}

// TailStart is artifacts.TailStart, for the logs API.
func TailStart(f io.ReaderAt, size int64, n int) (int64, error) {
	return artifacts.TailStart(f, size, n)
}

// KeptLogPath is artifacts.KeptLogPath of an execution.
func KeptLogPath(root string, projectID, execID uuid.UUID) string {
	return artifacts.KeptLogPath(root, projectID.String(), execID.String())
}

// KeepRunLog copies an execution's run.log to KeptLogPath (through a
// temporary file and a rename, so a reader never sees half a copy) and
// returns that path. The worker calls it when a run ends, before recording
// the end, and records the path as the execution's log_path.
func (s *Service) KeepRunLog(e models.Execution) (string, error) {
	dst := KeptLogPath(s.OutputRoot, e.ProjectID, e.ID)
	err := artifacts.KeepRunLog(e.OutputDir, dst)
	if errors.Is(err, artifacts.ErrNotPlainFile) {
		return "", ErrLogNotFound
	}
	if err != nil {
		return "", err
	}
	return dst, nil
}

// RecordRunLog records where an attempt's kept log is, for a run that ended
// without FinishExecution (paused).
func (s *Service) RecordRunLog(ctx context.Context, execID uuid.UUID, attempt int, path string) error {
	return s.DB.WithContext(ctx).Model(&models.Execution{}).Where("id = ? AND attempt = ?", execID, attempt).
		Updates(map[string]any{"log_path": path, "updated_at": s.Now()}).Error
}
