package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/events"
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

// RunLog says where one execution's output is.
//
// While an execution runs, and until it ends, its output is the project's
// run.log, in the folder the worker runs main.py in. When the run ends
// (completed, failed or paused) the worker stores a copy of run.log in the
// artifacts store under _artifacts/<project_id>/<execution_id>.log (the
// folder OUTPUT_ROOT, or the bucket with Q2O_ARTIFACTS=s3) and records its
// ref as the execution's log_path, so the log of every ended run stays
// readable after the next run empties run.log, from any API host. Final is
// then true: the log will not change.
type RunLog struct {
	ProjectID   uuid.UUID
	ExecutionID uuid.UUID
	Status      models.ExecutionStatus
	Tail        int
	// Path is run.log's path while the run lives, and the kept copy's ref
	// (store.Store.Ref) once Final.
	Path  string
	Final bool

	store   store.Store
	streams *events.LogStreams // LiveTail's; nil without Deps.LogStreams
}

// LogReader is an open run log: the live run.log or its kept copy.
type LogReader interface {
	io.ReadSeekCloser
	io.ReaderAt
	// Size is the log's length now: run.log grows while its run lives; a
	// kept log does not change.
	Size() (int64, error)
}

// RunLog finds the log of one of the tenant's executions: q.ExecutionID, or
// the project's latest.
// Errors: invalid_tail (400), project_not_found, execution_not_found (404,
// also for another tenant's or project's, or a malformed id), log_not_found
// (404: the project never ran, or an older run's log was not kept).
func (s *Service) RunLog(ctx context.Context, tenantID, projectID uuid.UUID, q LogQuery) (RunLog, error) {
	l := RunLog{ProjectID: projectID, Tail: DefaultLogTail, store: s.Artifacts, streams: s.LogStreams}
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

// Open opens the log for reading. It returns a nil reader and no error when
// the execution has no output yet: run.log is missing, or still holds an
// earlier execution's output (a new run empties it only when it starts).
// run.log must be a regular file with one link (artifacts.OpenPlainFile);
// a kept log is opened through the store (with s3, its reads are ranged
// GETs of the object, bounded by ctx).
// Errors: log_not_found (404) for a kept log that is gone or for anything
// but a plain file.
func (l RunLog) Open(ctx context.Context) (LogReader, error) {
	if l.Final {
		return l.openKept(ctx)
	}
	f, err := openLog(l.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !artifacts.HoldsRun(f, l.ExecutionID.String()) {
		_ = f.Close()
		return nil, nil
	}
	return fileLog{f}, nil
}

// openKept opens the kept copy through the store.
func (l RunLog) openKept(ctx context.Context) (LogReader, error) {
	st := l.store
	if st == nil { // a RunLog not made by Service.RunLog
		return nil, ErrLogNotFound
	}
	key, err := st.Key(l.Path)
	if err != nil {
		return nil, ErrLogNotFound
	}
	r, err := st.Open(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrLogNotFound
	}
	if err != nil {
		return nil, err
	}
	return keptLog{r}, nil
}

// fileLog is run.log, still growing while its run lives.
type fileLog struct{ *os.File }

func (f fileLog) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// keptLog is a kept log, which never changes.
type keptLog struct{ store.Reader }

func (k keptLog) Size() (int64, error) { return k.Object().Size, nil }

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

// KeptLogPath is artifacts.KeptLogPath of an execution: where the local
// store keeps its log.
func KeptLogPath(root string, projectID, execID uuid.UUID) string {
	return artifacts.KeptLogPath(root, projectID.String(), execID.String())
}

// KeepRunLog stores a copy of an execution's run.log (in e.OutputDir, the
// folder the worker ran it in) in the artifacts store under its LogKey and
// returns the ref to record as the execution's log_path. Readers never see
// half a copy (the local store renames a whole file into place, a bucket
// shows a whole object). A store that fails is tried again as retry says
// (the worker's Q2O_S3_UPLOAD_RETRY). The worker calls it when a run ends,
// before recording the end.
// Errors: log_not_found when run.log is not a plain file; the file
// system's and the store's.
func (s *Service) KeepRunLog(ctx context.Context, e models.Execution, retry store.Retry) (string, error) {
	key, err := artifacts.LogKey(e.ProjectID.String(), e.ID.String())
	if err != nil {
		return "", err
	}
	f, err := openLog(filepath.Join(e.OutputDir, artifacts.RunLog))
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("keep run.log: %w", err)
	}
	// A stopped main.py may still be writing: the copy is what run.log
	// held now.
	size := fi.Size()
	_, err = store.Retrying(ctx, retry, func(err error, wait time.Duration) {
		s.Log.Warn("keep run.log: the artifacts store failed; trying again", "execution_id", e.ID, "in", wait.String(), "error", err)
	}, func() (store.Object, error) {
		return s.Artifacts.Put(ctx, key, io.NewSectionReader(f, 0, size), size)
	})
	if err != nil {
		return "", fmt.Errorf("keep run.log: %w", err)
	}
	return s.Artifacts.Ref(key), nil
}

// RecordRunLog records where an attempt's kept log is, for a run that ended
// without FinishExecution (paused).
func (s *Service) RecordRunLog(ctx context.Context, execID uuid.UUID, attempt int, path string) error {
	return s.DB.WithContext(ctx).Model(&models.Execution{}).Where("id = ? AND attempt = ?", execID, attempt).
		Updates(map[string]any{"log_path": path, "updated_at": s.Now()}).Error
}
