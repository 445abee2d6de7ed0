package service

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/models"
)

// NewProject is what a tenant gives to create a project. Fields are pointers
// so that a missing field and a blank one are told apart in the error.
type NewProject struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Objectives  *string `json:"objectives"`
}

// Field limits, in characters.
const (
	maxNameLen = 200
	maxTextLen = 20000
)

func requiredText(field string, v *string, max int) (string, error) {
	if v == nil {
		return "", models.FieldError(field, "missing_field", "%s is required", field)
	}
	t := strings.TrimSpace(*v)
	if t == "" {
		return "", models.FieldError(field, "blank_field", "%s must not be blank", field)
	}
	if !utf8.ValidString(t) || strings.ContainsRune(t, 0) {
		return "", models.FieldError(field, "invalid_field", "%s must be valid UTF-8 text without NUL characters", field)
	}
	if utf8.RuneCountInString(t) > max {
		return "", models.FieldError(field, "field_too_long", "%s must be at most %d characters", field, max)
	}
	return t, nil
}

// CreateProject creates a project for a tenant under the seed's subscription
// rule (models.CanCreateProject), checked with the tenant's subscription row
// locked so that two concurrent creates of a trialing tenant make one project.
// Errors: missing_field, blank_field, invalid_field, field_too_long (400),
// subscription_inactive (402), trial_project_limit (403).
func (s *Service) CreateProject(ctx context.Context, tenantID uuid.UUID, in NewProject) (models.Project, error) {
	name, err := requiredText("name", in.Name, maxNameLen)
	if err != nil {
		return models.Project{}, err
	}
	desc, err := requiredText("description", in.Description, maxTextLen)
	if err != nil {
		return models.Project{}, err
	}
	obj, err := requiredText("objectives", in.Objectives, maxTextLen)
	if err != nil {
		return models.Project{}, err
	}
	now := s.Now()
	p := models.Project{ID: models.NewID(), TenantID: tenantID, Name: name, Description: desc, Objectives: obj,
		IsActive: true, CreatedAt: now, UpdatedAt: now}
	err = s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		sub, err := lockSubscription(tx, tenantID)
		if err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&models.Project{}).Where("tenant_id = ? AND is_active", tenantID).Count(&n).Error; err != nil {
			return err
		}
		if err := models.CanCreateProject(sub.Status, n); err != nil {
			return err
		}
		return tx.Create(&p).Error
	})
	return p, err
}

// lockSubscription reads the tenant's subscription with a row lock: every
// per-tenant rule that must hold under concurrency is checked under it.
func lockSubscription(tx *gorm.DB, tenantID uuid.UUID) (models.Subscription, error) {
	var sub models.Subscription
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("tenant_id = ?", tenantID).Take(&sub).Error
	return sub, notFound(err, models.ErrUnauthorized)
}

// Project returns one of the tenant's projects.
// Errors: project_not_found (404, also for another tenant's project).
func (s *Service) Project(ctx context.Context, tenantID, projectID uuid.UUID) (models.Project, error) {
	var p models.Project
	err := s.DB.WithContext(ctx).Where("id = ? AND tenant_id = ?", projectID, tenantID).Take(&p).Error
	if err != nil {
		return p, notFound(err, models.ErrProjectNotFound)
	}
	if p.ExecutionStatus != nil && *p.ExecutionStatus == models.StatusPending && p.LatestExecutionID != nil {
		var e models.Execution
		if err := s.DB.WithContext(ctx).Where("id = ?", *p.LatestExecutionID).Take(&e).Error; err != nil {
			return p, err
		}
		if p.QueuePosition, err = s.queuePosition(s.DB.WithContext(ctx), &e); err != nil {
			return p, err
		}
	}
	return p, nil
}

// AssignActivationCode assigns one of the tenant's codes, given as its
// plaintext, to a project, once. The code's use is counted in the same
// transaction.
// Errors: missing_field (400), project_not_found (404), invalid_activation_code,
// activation_code_revoked, activation_code_expired, activation_code_used_up (422),
// activation_code_already_assigned (409).
func (s *Service) AssignActivationCode(ctx context.Context, tenantID, projectID uuid.UUID, code string) (models.Project, error) {
	if strings.TrimSpace(code) == "" {
		return models.Project{}, models.FieldError("code", "missing_field", "code is required")
	}
	return s.assignCode(ctx, tenantID, projectID, "code_hash = ?", hashCode(code))
}

// AssignActivationCodeByID is AssignActivationCode for a code the tenant
// picked from its list (whose plaintext q2o no longer knows), by id. The
// portal's code picker uses it.
// Errors: as AssignActivationCode; a code id of another tenant is
// invalid_activation_code.
func (s *Service) AssignActivationCodeByID(ctx context.Context, tenantID, projectID, codeID uuid.UUID) (models.Project, error) {
	return s.assignCode(ctx, tenantID, projectID, "id = ?", codeID)
}

// assignCode assigns the tenant's code found by where/arg to a project.
func (s *Service) assignCode(ctx context.Context, tenantID, projectID uuid.UUID, where string, arg any) (models.Project, error) {
	var p models.Project
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("id = ? AND tenant_id = ?", projectID, tenantID).Take(&p).Error; err != nil {
			return notFound(err, models.ErrProjectNotFound)
		}
		if p.ActivationCodeID != nil {
			return models.Errorf(models.KindConflict, "activation_code_already_assigned", "the project already has an activation code")
		}
		var c models.ActivationCode
		// A code of another tenant answers exactly like an unknown one.
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where(where+" AND tenant_id = ?", arg, tenantID).Take(&c).Error
		if err != nil {
			return notFound(err, models.Errorf(models.KindUnprocessable, "invalid_activation_code", "no such activation code"))
		}
		if err := models.CodeUsable(&c, s.Now()); err != nil {
			return err
		}
		if err := tx.Model(&c).Update("use_count", gorm.Expr("use_count + 1")).Error; err != nil {
			return err
		}
		p.ActivationCodeID, p.UpdatedAt = &c.ID, s.Now()
		return tx.Model(&p).Updates(map[string]any{"activation_code_id": c.ID, "updated_at": p.UpdatedAt}).Error
	})
	return p, err
}

// RunStarted is the answer to RUN.
type RunStarted struct {
	ExecutionID uuid.UUID              `json:"execution_id"`
	Status      models.ExecutionStatus `json:"status"`
	// OutputFolderPath is OUTPUT_ROOT/<project_id>, the folder main.py runs
	// in, which the API and the workers share in local mode. With a remote
	// store (Q2O_ARTIFACTS=s3) it is empty, and left out of the answer: the
	// run happens in the scratch folder of whichever worker host takes it,
	// not a path a client of the API could use.
	OutputFolderPath string `json:"output_folder_path,omitempty"`
}

// StartRun starts a run of a project: it checks the RUN rules
// (models.CanRun) with the tenant's subscription row locked, creates the
// execution, sets the project pending and writes the project:run task to the
// outbox, all in one transaction; then it creates the output folder and sends
// the task. The run is accepted even if Redis is down: the outbox relay sends
// it later.
// Errors: project_not_found (404), run_in_progress, project_inactive (409),
// missing_field, activation_code_required, activation_code_revoked,
// activation_code_expired (422), subscription_inactive (402), run_quota_exceeded (403).
func (s *Service) StartRun(ctx context.Context, tenantID, projectID uuid.UUID) (RunStarted, error) {
	var exec models.Execution
	var locked []bool
	err := s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
		p, err := s.runnable(tx, tenantID, projectID, true)
		if err != nil {
			return err
		}
		dir, err := artifacts.ProjectDir(s.OutputRoot, p.ID.String())
		if err != nil {
			return err
		}
		now := s.Now()
		exec = models.Execution{ID: models.NewID(), ProjectID: p.ID, TenantID: tenantID, Status: models.StatusPending,
			OutputDir: dir, QueuedAt: now, CreatedAt: now, UpdatedAt: now}
		// The execution, its queued event and the project's new state in
		// one statement, which tries the dispatcher's lock too: when it is
		// free, the run is dispatched in this transaction; when another
		// dispatch holds it, after commit, so that the subscription row
		// (locked above) is not held while waiting for it.
		err = tx.Raw(`WITH e AS (
			  INSERT INTO executions (id, project_id, tenant_id, status, attempt, output_dir, queued_at, created_at, updated_at)
			  VALUES (@id, @project, @tenant, @pending, 0, @dir, @now, @now, @now)),
			ev AS (
			  INSERT INTO execution_events (execution_id, kind, message, attempt, created_at) VALUES (@id, @queued, 'run queued', 0, @now))
			UPDATE projects SET execution_status = @pending, execution_started_at = NULL, execution_completed_at = NULL,
			  execution_error = NULL, output_folder_path = @dir, progress = 0, progress_message = 'queued',
			  latest_execution_id = @id, updated_at = @now
			FROM (`+dispatchTryLockSQL+`) dispatcher
			WHERE id = @project
			RETURNING dispatcher.dispatch_locked`,
			map[string]any{"id": exec.ID, "project": p.ID, "tenant": tenantID, "pending": models.StatusPending, "dir": dir,
				"now": now, "queued": models.EventQueued}).Scan(&locked).Error
		if err != nil {
			if db.IsUniqueViolation(err, "executions_one_live_per_project") {
				return models.ErrRunInProgress
			}
			return err
		}
		s.emit(tx, liveEvent(&exec, string(models.StatusPending), models.StatusPending, 0, "queued"))
		// Its task goes to Redis when it gets a slot, maybe at once.
		if len(locked) == 1 && locked[0] {
			_, err = s.dispatchLocked(tx, ob)
		}
		return err
	})
	if err != nil {
		return RunStarted{}, err
	}
	if len(locked) != 1 || !locked[0] {
		s.dispatch(ctx)
	}
	if store.Remote(s.Artifacts) {
		// Nothing is shared with the workers but the bucket: a folder here
		// would stay empty.
		return RunStarted{ExecutionID: exec.ID, Status: exec.Status}, nil
	}
	// The worker creates the folder too; creating it here lets the tenant
	// see it at once. A failure here does not lose the run.
	if err := os.MkdirAll(exec.OutputDir, 0o755); err != nil {
		s.Log.Warn("create output folder", "execution_id", exec.ID, "error", err)
	}
	return RunStarted{ExecutionID: exec.ID, Status: exec.Status, OutputFolderPath: exec.OutputDir}, nil
}

// CheckRun tells, without changing anything, whether RUN of the project
// would be accepted now: nil, or exactly the error StartRun would refuse
// with (the same rules, read by the same code, runnable). Between the check
// and a RUN the state may change; StartRun checks again under its locks.
// Errors: StartRun's refusals, that is project_not_found (404),
// run_in_progress, project_inactive (409), missing_field,
// activation_code_required, activation_code_revoked, activation_code_expired
// (422), subscription_inactive (402), run_quota_exceeded (403).
func (s *Service) CheckRun(ctx context.Context, tenantID, projectID uuid.UUID) error {
	_, err := s.runnable(s.DB.WithContext(ctx), tenantID, projectID, false)
	return err
}

// runnable applies the RUN rules to one of the tenant's projects as the
// database holds it: models.CanRun with the tenant's subscription and its
// count of live runs, the plan's monthly quota, then models.CodeValid of the
// project's code. It returns the project when RUN may go ahead. One
// statement reads them all; with lock (StartRun, inside its transaction)
// it locks the subscription row and then the project row FOR UPDATE, so
// the per-tenant rules hold under concurrent RUNs; without (CheckRun) it
// only reads.
func (s *Service) runnable(tx *gorm.DB, tenantID, projectID uuid.UUID, lock bool) (models.Project, error) {
	month, _ := quotaMonth(s.Now())
	q := `SELECT p.*, sub.status AS subscription_status, pl.monthly_run_quota AS run_quota,
		  CASE WHEN pl.monthly_run_quota IS NULL THEN 0 ELSE
		    (SELECT count(*) FROM executions x WHERE x.tenant_id = sub.tenant_id AND x.created_at >= @month) END AS runs_this_month,
		  c.id AS code_id, c.revoked_at AS code_revoked_at, c.expires_at AS code_expires_at
		FROM subscriptions sub
		JOIN tenants t ON t.id = sub.tenant_id
		JOIN plans pl ON pl.code = t.plan_code
		JOIN projects p ON p.id = @project AND p.tenant_id = sub.tenant_id
		LEFT JOIN activation_codes c ON c.id = p.activation_code_id
		WHERE sub.tenant_id = @tenant`
	if lock {
		q += " FOR UPDATE OF sub, p"
	}
	var rows []struct {
		models.Project
		SubscriptionStatus models.SubscriptionStatus
		RunQuota           *int
		RunsThisMonth      int64
		CodeID             *uuid.UUID
		CodeRevokedAt      *time.Time
		CodeExpiresAt      *time.Time
	}
	if err := tx.Raw(q, map[string]any{"month": month, "project": projectID, "tenant": tenantID}).Scan(&rows).Error; err != nil {
		return models.Project{}, err
	}
	if len(rows) == 0 { // which one is missing: rarely asked, so asked apart
		var subs int64
		if err := tx.Model(&models.Subscription{}).Where("tenant_id = ?", tenantID).Count(&subs).Error; err != nil {
			return models.Project{}, err
		}
		if subs == 0 {
			return models.Project{}, models.ErrUnauthorized
		}
		return models.Project{}, models.ErrProjectNotFound
	}
	r := rows[0]
	p := r.Project
	if err := models.CanRun(&p, r.SubscriptionStatus); err != nil {
		return p, err
	}
	if err := models.CanStartRunThisMonth(r.RunQuota, r.RunsThisMonth); err != nil {
		return p, err
	}
	if r.CodeID == nil {
		return p, fmt.Errorf("activation code %s of project %s not found", *p.ActivationCodeID, p.ID)
	}
	c := models.ActivationCode{ID: *r.CodeID, RevokedAt: r.CodeRevokedAt, ExpiresAt: r.CodeExpiresAt}
	if err := models.CodeValid(&c, s.Now()); err != nil {
		return p, err
	}
	return p, nil
}

// ExecutionView is an execution as its tenant sees it: no server path and
// no worker name, but the addresses of its log and (once it completed and
// its zip is made) its download.
type ExecutionView struct {
	models.Execution
	LogURL      string  `json:"log_url"`
	DownloadURL *string `json:"download_url"`
	// QueuePosition is the run's place in its tenant's queue while it
	// waits for a slot (1: next); null otherwise.
	QueuePosition *int `json:"queue_position"`
}

// executionView adds an execution's addresses.
func executionView(e models.Execution) ExecutionView {
	base := "/api/tenant/projects/" + e.ProjectID.String()
	v := ExecutionView{Execution: e, LogURL: base + "/logs?execution_id=" + e.ID.String()}
	if e.Status == models.StatusCompleted && e.ZipPath != nil {
		u := base + "/executions/" + e.ID.String() + "/download"
		v.DownloadURL = &u
	}
	return v
}

// ExecutionDetail is an execution with its events in order.
type ExecutionDetail struct {
	ExecutionView
	Events []models.ExecutionEvent `json:"events"`
}

// Execution returns one execution of one of the tenant's projects.
// Errors: execution_not_found (404, also for another tenant's or project's).
func (s *Service) Execution(ctx context.Context, tenantID, projectID, executionID uuid.UUID) (ExecutionDetail, error) {
	var d ExecutionDetail
	var e models.Execution
	err := s.DB.WithContext(ctx).Where("id = ? AND project_id = ? AND tenant_id = ?", executionID, projectID, tenantID).
		Take(&e).Error
	if err != nil {
		return d, notFound(err, models.ErrExecutionNotFound)
	}
	d.ExecutionView = executionView(e)
	if d.QueuePosition, err = s.queuePosition(s.DB.WithContext(ctx), &e); err != nil {
		return d, err
	}
	if err := s.DB.WithContext(ctx).Where("execution_id = ?", executionID).Order("id").Find(&d.Events).Error; err != nil {
		return d, fmt.Errorf("read events: %w", err)
	}
	return d, nil
}
