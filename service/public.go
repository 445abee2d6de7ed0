package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// ErrPublicNotFound is the one answer to a client whose credential does not
// open a project: an unknown, revoked, expired or unassigned code, another
// project's, or a client session that is unknown, expired or whose code no
// longer opens its project.
var ErrPublicNotFound = models.Errorf(models.KindNotFound, "not_found", "no project for this activation code")

// A client's credential is either an activation code (ABCDE-FGHJK-LMNPQ-RSTUV,
// in any case, with or without dashes) or a client session token
// (q2c_<prefix>_<secret>, from OpenClientSession). Codes have no "_", so the
// two never collide. Every client method below takes either.

// openedProjects is the query of the projects credential opens now. This is
// the one statement of the rule: the project is active and its activation
// code is neither revoked nor expired; for an activation code, it is that
// code; for a client session, the session has not expired, and the project
// and code are the session's (so a session opens one project, and only
// while the code it was opened with still opens it).
// Errors: not_found (404).
func (s *Service) openedProjects(ctx context.Context, credential string) (*gorm.DB, error) {
	q := s.DB.WithContext(ctx).
		Joins("JOIN activation_codes c ON c.id = projects.activation_code_id").
		Where(models.CodeValidSQL("c")+" AND projects.is_active", s.Now())
	if strings.HasPrefix(credential, clientSessionPrefix) {
		cs, err := s.liveClientSession(ctx, credential)
		if err != nil {
			return nil, err
		}
		return q.Where("projects.id = ? AND c.id = ?", cs.ProjectID, cs.ActivationCodeID), nil
	}
	if strings.TrimSpace(credential) == "" {
		return nil, ErrPublicNotFound
	}
	return q.Where("c.code_hash = ?", hashCode(credential)), nil
}

// ProjectByCode returns the project a client's credential opens: for an
// activation code, the project it is assigned to (the most recently
// created, should a multi-use code open several); for a client session
// token, the session's project (see openedProjects for when it opens it).
// Errors: not_found (404).
func (s *Service) ProjectByCode(ctx context.Context, credential string) (models.Project, error) {
	var p models.Project
	q, err := s.openedProjects(ctx, credential)
	if err != nil {
		return p, err
	}
	err = q.Order("projects.created_at DESC, projects.id DESC").Take(&p).Error
	return p, notFound(err, ErrPublicNotFound)
}

// ProjectForCode returns project projectID if the client's credential (an
// activation code or a client session token) opens it.
// Errors: not_found (404).
func (s *Service) ProjectForCode(ctx context.Context, projectID uuid.UUID, credential string) (models.Project, error) {
	var p models.Project
	q, err := s.openedProjects(ctx, credential)
	if err != nil {
		return p, err
	}
	err = q.Where("projects.id = ?", projectID).Take(&p).Error
	return p, notFound(err, ErrPublicNotFound)
}

// ClientSessionTTL is how long a client session lasts.
const ClientSessionTTL = 8 * time.Hour

// clientSessionPrefix starts every client session token.
const clientSessionPrefix = "q2c_"

// ClientSession is a client's sign-in to one project; Token is shown only
// this once.
type ClientSession struct {
	Token     string    `json:"token"`
	ProjectID uuid.UUID `json:"project_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// OpenClientSession trades an activation code for a client session token
// (q2c_…) that opens the code's project (the one ProjectByCode returns) for
// ClientSessionTTL, so that a portal can keep the token in a cookie instead
// of the code in the address bar. The session opens the project only while
// the code still does: revoking or expiring the code, or deleting the
// project, ends it. Only an activation code opens a session: a session token
// does not renew itself. Expired sessions of the project are deleted on the
// way.
// Errors: not_found (404), exactly where ActivateProject refuses the code.
func (s *Service) OpenClientSession(ctx context.Context, code string) (ClientSession, error) {
	if strings.HasPrefix(code, clientSessionPrefix) {
		return ClientSession{}, ErrPublicNotFound
	}
	p, err := s.ProjectByCode(ctx, code)
	if err != nil {
		return ClientSession{}, err
	}
	now := s.Now().Truncate(time.Microsecond) // what Postgres keeps
	token, prefix := newToken(clientSessionPrefix)
	row := models.ClientSession{ID: models.NewID(), Prefix: prefix, TokenHash: hashSecret(token), ProjectID: p.ID,
		ActivationCodeID: *p.ActivationCodeID, ExpiresAt: now.Add(ClientSessionTTL), CreatedAt: now}
	err = s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		if err := tx.Where("project_id = ? AND expires_at <= ?", p.ID, now).Delete(&models.ClientSession{}).Error; err != nil {
			return err
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		return ClientSession{}, fmt.Errorf("store client session: %w", err)
	}
	return ClientSession{Token: token, ProjectID: p.ID, ExpiresAt: row.ExpiresAt}, nil
}

// liveClientSession returns the unexpired session of token; whether its
// code still opens its project is openedProjects' to check.
// Errors: not_found (404).
func (s *Service) liveClientSession(ctx context.Context, token string) (models.ClientSession, error) {
	var row models.ClientSession
	prefix, ok := parseToken(token, clientSessionPrefix)
	if !ok {
		return row, ErrPublicNotFound
	}
	err := s.DB.WithContext(ctx).Where("prefix = ? AND expires_at > ?", prefix, s.Now()).Take(&row).Error
	if err != nil {
		return row, notFound(err, ErrPublicNotFound)
	}
	if !equalHash(row.TokenHash, hashSecret(token)) {
		return row, ErrPublicNotFound
	}
	return row, nil
}

// PublicProject is what a client holding an activation code sees of the one
// project the code opens: nothing about the tenant, its other projects or
// its codes, and no error text (it may hold main.py's stderr).
type PublicProject struct {
	ID                   uuid.UUID               `json:"id"`
	Name                 string                  `json:"name"`
	Description          string                  `json:"description"`
	ExecutionStatus      *models.ExecutionStatus `json:"execution_status"`
	Progress             int                     `json:"progress"`
	ProgressMessage      string                  `json:"progress_message"`
	ExecutionStartedAt   *time.Time              `json:"execution_started_at"`
	ExecutionCompletedAt *time.Time              `json:"execution_completed_at"`
	DownloadReady        bool                    `json:"download_ready"`
	// DownloadURL serves the zip of the last completed run (with the
	// activation code, or the client's session cookie); null until there
	// is one.
	DownloadURL           *string                 `json:"download_url"`
	LatestExecutionID     *uuid.UUID              `json:"latest_execution_id"`
	LatestExecutionStatus *models.ExecutionStatus `json:"latest_execution_status"`
}

// ActivateProject returns the client's view of the project its credential
// (an activation code or a client session token, see ProjectByCode) opens.
// DownloadReady is true (with DownloadURL) when the project has a completed
// run whose zip is recorded — its last completed one, whatever later runs
// are doing — that is when OpenDownload serves it.
// Errors: not_found (404) for an unknown, revoked or expired code, for a
// code with no (active) project, and for a session that is unknown, expired
// or whose code no longer opens its project: the client cannot tell these
// apart.
func (s *Service) ActivateProject(ctx context.Context, credential string) (PublicProject, error) {
	p, err := s.ProjectByCode(ctx, credential)
	if err != nil {
		return PublicProject{}, err
	}
	out := PublicProject{ID: p.ID, Name: p.Name, Description: p.Description, ExecutionStatus: p.ExecutionStatus,
		Progress: p.Progress, ProgressMessage: p.ProgressMessage, ExecutionStartedAt: p.ExecutionStartedAt,
		ExecutionCompletedAt: p.ExecutionCompletedAt, LatestExecutionID: p.LatestExecutionID}
	if p.LatestExecutionID != nil {
		var e models.Execution
		err = s.DB.WithContext(ctx).Select("id", "status").
			Where("id = ? AND project_id = ?", *p.LatestExecutionID, p.ID).Take(&e).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return PublicProject{}, fmt.Errorf("read latest execution: %w", err)
		}
		if err == nil {
			out.LatestExecutionStatus = &e.Status
		}
	}
	done, err := s.lastCompleted(ctx, p.ID)
	if err != nil {
		return PublicProject{}, err
	}
	if done != nil && done.ZipPath != nil {
		u := "/api/public/projects/" + p.ID.String() + "/download"
		out.DownloadReady, out.DownloadURL = true, &u
	}
	return out, nil
}

// Download errors.
var (
	// ErrZipMissing: the zip was recorded but its file is gone from disk; it
	// is being made again.
	ErrZipMissing = models.Errorf(models.KindNotFound, "zip_missing",
		"the zip of this project is missing and is being made again; try again shortly")
	// ErrZipGone: the zip of an earlier run (not the project's latest) is
	// not on disk, and cannot be made again: the project folder now holds a
	// later run's output.
	ErrZipGone = models.Errorf(models.KindNotFound, "zip_missing",
		"the zip of this run is no longer kept; only the latest run's zip can be made again")
)

func errNotCompleted(status models.ExecutionStatus) error {
	if status == "" {
		return models.Errorf(models.KindConflict, "project_not_completed", "the project has not run yet; its download is ready once a run has completed")
	}
	return models.Errorf(models.KindConflict, "project_not_completed",
		"the project's run is %s; its download is ready once a run has completed", status)
}

// Download is the zip of a completed run, opened for a client or a tenant.
// When Pending is true the zip is still being made and File is nil;
// otherwise the caller must close File.
type Download struct {
	ProjectName string
	ExecutionID uuid.UUID
	Pending     bool
	File        *os.File
	ModTime     time.Time
	SHA256      string // hex; empty if not recorded
}

// OpenDownload opens the zip of project projectID's last completed
// execution for a client holding credential (an activation code or a client
// session token, see ProjectForCode): a project being run again, or whose
// latest run failed or was stopped, still serves the zip of its last good
// run; one that never completed a run answers project_not_completed.
//
// While the completed execution's zip is not recorded yet it answers Pending
// and makes sure the project:zip task exists (see ensureZipTask). When the
// recorded file has vanished from disk (or is not the file recorded), it
// forgets the zip, enqueues project:zip again and answers zip_missing
// (ErrZipMissing).
// Errors: not_found (404), project_not_completed (409), zip_missing (404).
func (s *Service) OpenDownload(ctx context.Context, projectID uuid.UUID, credential string) (Download, error) {
	p, err := s.ProjectForCode(ctx, projectID, credential)
	if err != nil {
		return Download{}, err
	}
	e, err := s.lastCompleted(ctx, p.ID)
	if err != nil {
		return Download{}, err
	}
	if e == nil {
		var status models.ExecutionStatus
		if p.ExecutionStatus != nil {
			status = *p.ExecutionStatus
		}
		return Download{}, errNotCompleted(status)
	}
	return s.openExecutionZip(ctx, &p, e)
}

// OpenExecutionDownload opens the zip of one completed execution of one of
// the tenant's projects, for the tenant, with OpenDownload's answers while
// the zip is being made (Pending) or has vanished (zip_missing, made again).
// Only the project's latest execution can have its zip made again (its
// output is what the project folder holds); an earlier one whose zip is not
// on disk answers zip_missing (ErrZipGone) and nothing is made.
// Errors: execution_not_found (404, also for another tenant's or project's
// execution), execution_not_completed (409), zip_missing (404).
func (s *Service) OpenExecutionDownload(ctx context.Context, tenantID, projectID, executionID uuid.UUID) (Download, error) {
	var p models.Project
	err := s.DB.WithContext(ctx).Where("id = ? AND tenant_id = ?", projectID, tenantID).Take(&p).Error
	if err != nil {
		return Download{}, notFound(err, models.ErrExecutionNotFound)
	}
	var e models.Execution
	err = s.DB.WithContext(ctx).Where("id = ? AND project_id = ? AND tenant_id = ?", executionID, projectID, tenantID).Take(&e).Error
	if err != nil {
		return Download{}, notFound(err, models.ErrExecutionNotFound)
	}
	if e.Status != models.StatusCompleted {
		return Download{}, models.Errorf(models.KindConflict, "execution_not_completed",
			"the run is %s; only a completed run has a zip", e.Status)
	}
	return s.openExecutionZip(ctx, &p, &e)
}

// openExecutionZip opens the zip of completed execution e of project p: the
// zip-opening part shared by OpenDownload and OpenExecutionDownload (see
// them for Pending and zip_missing). The zip is made (again) only for the
// project's latest execution.
func (s *Service) openExecutionZip(ctx context.Context, p *models.Project, e *models.Execution) (Download, error) {
	latest := p.LatestExecutionID != nil && *p.LatestExecutionID == e.ID
	d := Download{ProjectName: p.Name, ExecutionID: e.ID}
	if e.ZipPath == nil {
		if !latest {
			return Download{}, ErrZipGone
		}
		if err := s.ensureZipTask(ctx, e.ID); err != nil {
			return Download{}, err
		}
		d.Pending = true
		return d, nil
	}
	f, fi, err := openZip(*e.ZipPath, e.ZipSize, e.ZipSHA256)
	if errors.Is(err, fs.ErrNotExist) {
		if !latest {
			s.Log.Warn("zip file of an earlier run missing", "execution_id", e.ID, "path", *e.ZipPath, "error", err)
			return Download{}, ErrZipGone
		}
		s.Log.Warn("zip file missing; making it again", "execution_id", e.ID, "path", *e.ZipPath, "error", err)
		if err := s.forgetZip(ctx, e.ID, *e.ZipPath); err != nil {
			return Download{}, err
		}
		if err := s.ensureZipTask(ctx, e.ID); err != nil {
			return Download{}, err
		}
		return Download{}, ErrZipMissing
	}
	if err != nil {
		return Download{}, fmt.Errorf("open zip: %w", err)
	}
	d.File, d.ModTime = f, fi.ModTime()
	if e.ZipSHA256 != nil {
		d.SHA256 = *e.ZipSHA256
	}
	return d, nil
}

// LatestCompletedExecution returns the newest completed execution of one of
// the tenant's projects (whatever later runs are doing), or nil when the
// project has none.
// Errors: project_not_found (404, also for another tenant's project).
func (s *Service) LatestCompletedExecution(ctx context.Context, tenantID, projectID uuid.UUID) (*models.Execution, error) {
	if _, err := s.Project(ctx, tenantID, projectID); err != nil {
		return nil, err
	}
	return s.lastCompleted(ctx, projectID)
}

// lastCompleted is the newest completed execution of a project, or nil: the
// one whose zip the client downloads, whatever later runs are doing.
func (s *Service) lastCompleted(ctx context.Context, projectID uuid.UUID) (*models.Execution, error) {
	var e models.Execution
	// Ids are UUIDv7: id orders executions created in the same instant.
	err := s.DB.WithContext(ctx).Where("project_id = ? AND status = ?", projectID, models.StatusCompleted).
		Order("created_at DESC, id DESC").Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the last completed execution: %w", err)
	}
	return &e, nil
}

// openZip opens a recorded zip. A path that is not a regular file, not of
// the recorded size, or whose SHA-256 is not the recorded one counts as
// missing (fs.ErrNotExist): serving it would send the client something other
// than what was recorded, under the recorded ETag. The hash is checked once
// per version of the file (see verifiedZips), not at every download.
func openZip(path string, size *int64, sha *string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || size != nil && fi.Size() != *size) {
		err = fmt.Errorf("%s: not the recorded zip (mode %s, %d bytes): %w", path, fi.Mode(), fi.Size(), fs.ErrNotExist)
	}
	if err == nil && sha != nil {
		err = verifyZip(f, fi, path, *sha)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// zipVersion tells one version of a file from another: a rewrite changes
// its inode or its change time, which no caller can set back.
type zipVersion struct {
	path       string
	ino, size  int64
	ctimeNanos int64
	sha        string
}

// verifiedZips holds the versions of zip files whose SHA-256 was checked.
var verifiedZips sync.Map // path → zipVersion

// verifyZip checks that f (open at path, fi its Stat) has SHA-256 want.
func verifyZip(f *os.File, fi fs.FileInfo, path, want string) error {
	v := zipVersion{path: path, size: fi.Size(), sha: want}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.ino, v.ctimeNanos = int64(st.Ino), st.Ctim.Nano()
	}
	if seen, ok := verifiedZips.Load(path); ok && seen.(zipVersion) == v {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: hash: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		verifiedZips.Delete(path)
		return fmt.Errorf("%s: SHA-256 %s, recorded %s: %w", path, got, want, fs.ErrNotExist)
	}
	verifiedZips.Store(path, v)
	return nil
}

// forgetZip clears an execution's recorded zip, if it is still path, so
// that project:zip writes it again.
func (s *Service) forgetZip(ctx context.Context, execID uuid.UUID, path string) error {
	return s.DB.WithContext(ctx).Model(&models.Execution{}).Where("id = ? AND zip_path = ?", execID, path).
		Updates(map[string]any{"zip_path": nil, "zip_size": nil, "zip_sha256": nil, "updated_at": s.Now()}).Error
}

// taskInfoGetter is the part of asynq's Inspector that tells what became of
// a task. s.Queue provides it when it is an *asynq.Inspector (as wired).
type taskInfoGetter interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// ensureZipTask makes sure the project:zip task of a completed, unzipped
// execution will run: it does nothing while the task waits in the outbox
// (unsent) or is pending, scheduled, retrying or running on Redis, and
// otherwise writes it to the outbox again and sends it. A task that Redis
// keeps as completed (retention) or archived (out of retries) would refuse a
// new one with its TaskID, so it is deleted first. Two requests racing here
// at worst enqueue it twice, and the TaskID refuses the second.
func (s *Service) ensureZipTask(ctx context.Context, execID uuid.UUID) error {
	msg := jobs.ZipMessage(jobs.Run{ExecutionID: execID})
	unsent, err := jobs.Unsent(s.DB.WithContext(ctx), msg.TaskID)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	if unsent {
		return nil
	}
	queued, err := s.taskQueued(msg.Queue, msg.TaskID)
	if err != nil {
		// Redis cannot tell us: enqueue anyway. The outbox row waits for the
		// relay if Redis is down, and a task already there refuses it.
		s.Log.Warn("zip task: cannot read the queue; enqueueing again", "execution_id", execID, "error", err)
	}
	if queued {
		return nil
	}
	return s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
		var n int64
		err := tx.Model(&models.Execution{}).
			Where("id = ? AND status = ? AND zip_path IS NULL", execID, models.StatusCompleted).Count(&n).Error
		if err != nil || n == 0 {
			return err // zipped in the meantime: nothing to do
		}
		s.Log.Info("zip task missing; enqueued again", "execution_id", execID)
		return ob.add(msg)
	})
}

// taskQueued reports whether task id is on Redis and will still run. It
// deletes a completed or archived one, which would not.
func (s *Service) taskQueued(queue, id string) (bool, error) {
	insp, ok := s.Queue.(taskInfoGetter)
	if !ok {
		return false, nil // cannot tell: a duplicate enqueue is refused anyway
	}
	info, err := insp.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	if info.State != asynq.TaskStateCompleted && info.State != asynq.TaskStateArchived {
		return true, nil
	}
	if err := s.Queue.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return false, err
	}
	return false, nil
}
