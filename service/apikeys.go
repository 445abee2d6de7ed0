package service

import (
	"context"
	"strings"

	"github.com/q2o/q2o/models"
)

// TenantByEmail returns the tenant with this sign-in email.
// Errors: invalid_email (400), tenant_not_found (404).
func (s *Service) TenantByEmail(ctx context.Context, email string) (models.Tenant, error) {
	e, err := checkEmail(email)
	if err != nil {
		return models.Tenant{}, err
	}
	var t models.Tenant
	err = s.DB.WithContext(ctx).Where("lower(email) = ?", strings.ToLower(e)).Take(&t).Error
	return t, notFound(err, models.Errorf(models.KindNotFound, "tenant_not_found", "no tenant with this email"))
}

// NewAPIKey makes another API key for a tenant and returns it, shown only
// this once; the tenant's other keys keep working.
func (s *Service) NewAPIKey(ctx context.Context, t models.Tenant, name string) (string, error) {
	key, prefix := newAPIKey()
	err := s.DB.WithContext(ctx).Create(&models.APIKey{ID: models.NewID(), TenantID: t.ID, Prefix: prefix,
		KeyHash: hashSecret(key), Name: name, CreatedAt: s.Now()}).Error
	if err != nil {
		return "", err
	}
	return key, nil
}
