package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/service"
)

// Exactly once: a main.py that has exited is never started again for the
// same execution. Its outcome is written to a file beside the run's zip and
// log before it is recorded in Postgres, and recording is retried through a
// database outage. Should the worker stop first (shutdown, crash), the next
// attempt finds the file and records it instead of running main.py again.

// outcomePatience bounds how long a worker keeps retrying to record an
// outcome before it hands the task back (the file stays for the next
// attempt).
const outcomePatience = 10 * time.Minute

// savedOutcome is an outcome file.
type savedOutcome struct {
	Attempt int             `json:"attempt"`
	Outcome service.Outcome `json:"outcome"`
}

func (w *Worker) outcomePath(projectID, execID uuid.UUID) string {
	return filepath.Join(w.cfg.OutputRoot, artifacts.ArtifactsDir, projectID.String(), execID.String()+".outcome.json")
}

// saveOutcome writes the outcome file (through a rename, so it is whole or
// absent) and syncs it.
func (w *Worker) saveOutcome(path string, attempt int, o service.Outcome) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(savedOutcome{Attempt: attempt, Outcome: o})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadOutcome reads an outcome file; ok is false when there is none.
func loadOutcome(path string) (o service.Outcome, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return o, false, nil
	}
	if err != nil {
		return o, false, err
	}
	var s savedOutcome
	if err := json.Unmarshal(b, &s); err != nil {
		return o, false, fmt.Errorf("outcome file %s: %w", path, err)
	}
	return s.Outcome, true, nil
}

// recordOutcome records a run's outcome, retrying with backoff (250 ms up
// to 5 s between tries) until it is stored, ctx ends or outcomePatience has
// passed; the outcome file is removed once it is stored.
func (w *Worker) recordOutcome(ctx context.Context, path string, execID uuid.UUID, attempt int, o service.Outcome) (bool, error) {
	if err := w.saveOutcome(path, attempt, o); err != nil {
		w.log.Warn("save the run's outcome file", "execution_id", execID.String(), "error", err)
	}
	deadline := time.Now().Add(outcomePatience)
	wait := 250 * time.Millisecond
	for {
		recorded, err := w.svc.FinishExecution(context.WithoutCancel(ctx), execID, attempt, o)
		if err == nil {
			if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
				w.log.Warn("remove the run's outcome file", "execution_id", execID.String(), "error", rmErr)
			}
			return recorded, nil
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("record the outcome (kept in %s for the next attempt): %w", path, err)
		}
		w.log.Warn("record the run's outcome; trying again", "execution_id", execID.String(), "in", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("record the outcome (kept in %s for the next attempt): %w", path, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
