package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// TenantExecution returns one of the tenant's executions by its id alone,
// as Execution does with its project's id.
// Errors: execution_not_found (404, also for another tenant's).
func (s *Service) TenantExecution(ctx context.Context, tenantID, executionID uuid.UUID) (ExecutionDetail, error) {
	var e models.Execution
	err := s.DB.WithContext(ctx).Select("project_id").Where("id = ? AND tenant_id = ?", executionID, tenantID).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ExecutionDetail{}, models.ErrExecutionNotFound
	}
	if err != nil {
		return ExecutionDetail{}, fmt.Errorf("read execution: %w", err)
	}
	return s.Execution(ctx, tenantID, e.ProjectID, executionID)
}
