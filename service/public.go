package service

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// ErrPublicNotFound is the one answer to a client whose code does not open
// a project: unknown, revoked, expired, unassigned, or another project's.
var ErrPublicNotFound = models.Errorf(models.KindNotFound, "not_found", "no project for this activation code")

// ProjectByCode returns the project an activation code is assigned to (the
// most recently created, should a multi-use code open several).
// Errors: not_found (404).
func (s *Service) ProjectByCode(ctx context.Context, code string) (models.Project, error) {
	var p models.Project
	if strings.TrimSpace(code) == "" {
		return p, ErrPublicNotFound
	}
	err := s.DB.WithContext(ctx).
		Joins("JOIN activation_codes c ON c.id = projects.activation_code_id").
		Where("c.code_hash = ? AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > ?) AND projects.is_active",
			hashCode(code), s.Now()).
		Order("projects.created_at DESC").Take(&p).Error
	return p, notFound(err, ErrPublicNotFound)
}

// ProjectForCode returns project projectID if code opens it.
// Errors: not_found (404).
func (s *Service) ProjectForCode(ctx context.Context, projectID uuid.UUID, code string) (models.Project, error) {
	var p models.Project
	if strings.TrimSpace(code) == "" {
		return p, ErrPublicNotFound
	}
	err := s.DB.WithContext(ctx).
		Joins("JOIN activation_codes c ON c.id = projects.activation_code_id").
		Where("projects.id = ? AND c.code_hash = ? AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > ?) AND projects.is_active",
			projectID, hashCode(code), s.Now()).
		Take(&p).Error
	return p, notFound(err, ErrPublicNotFound)
}
