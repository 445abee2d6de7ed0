package service

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// ResumeResult is what resume-all did with one paused project.
type ResumeResult struct {
	ProjectID   uuid.UUID              `json:"project_id"`
	ExecutionID *uuid.UUID             `json:"execution_id,omitempty"`
	Status      models.ExecutionStatus `json:"status,omitempty"`
	Error       *ResumeError           `json:"error,omitempty"`
}

// ResumeError is why one project was not resumed.
type ResumeError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ResumeAll resumes each of the tenant's paused (and not deleted) projects,
// oldest first, each as ResumeRun does (a new execution through RUN's
// gates): a project the gates refuse is reported with the reason and stays
// paused.
// Errors: subscription_inactive (402) when the subscription may not run.
func (s *Service) ResumeAll(ctx context.Context, tenantID uuid.UUID) ([]ResumeResult, error) {
	var sub models.Subscription
	if err := s.DB.WithContext(ctx).Where("tenant_id = ?", tenantID).Take(&sub).Error; err != nil {
		return nil, notFound(err, models.ErrUnauthorized)
	}
	if err := sub.Status.CheckMayRun(); err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	err := s.DB.WithContext(ctx).Model(&models.Project{}).
		Where("tenant_id = ? AND is_active AND execution_status = ?", tenantID, models.StatusPaused).
		Order("updated_at, id").Pluck("id", &ids).Error
	if err != nil {
		return nil, err
	}
	out := make([]ResumeResult, 0, len(ids))
	for _, id := range ids {
		r := ResumeResult{ProjectID: id}
		started, err := s.ResumeRun(ctx, tenantID, id)
		var appErr *models.Error
		switch {
		case errors.As(err, &appErr):
			r.Error = &ResumeError{Code: appErr.Code, Message: appErr.Message}
		case err != nil:
			return nil, err
		default:
			r.ExecutionID, r.Status = &started.ExecutionID, started.Status
		}
		out = append(out, r)
	}
	return out, nil
}
