package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

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
