package service

import (
	"context"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// Branding is how a tenant dresses its client's dashboard: its name, logo
// and primary colour. TenantID is for the server's own use (the project's
// event stream), never shown.
type Branding struct {
	TenantID     uuid.UUID `json:"-"`
	Name         string    `json:"name"`
	LogoURL      string    `json:"logo_url"`
	PrimaryColor string    `json:"primary_color"`
}

// ProjectBranding returns the branding of the tenant that owns projectID.
// Call it only for a project the client's credential has opened.
// Errors: not_found (404).
func (s *Service) ProjectBranding(ctx context.Context, projectID uuid.UUID) (Branding, error) {
	var t models.Tenant
	err := s.DB.WithContext(ctx).Joins("JOIN projects p ON p.tenant_id = tenants.id").
		Where("p.id = ?", projectID).Take(&t).Error
	if err != nil {
		return Branding{}, notFound(err, ErrPublicNotFound)
	}
	b := Branding{TenantID: t.ID, Name: t.Name}
	if t.LogoURL != nil {
		b.LogoURL = *t.LogoURL
	}
	if t.PrimaryColor != nil {
		b.PrimaryColor = *t.PrimaryColor
	}
	return b, nil
}
