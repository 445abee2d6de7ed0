package service

// An operator's management of a tenant's API keys: make one (its plaintext
// shown once), list them (prefix only), revoke one.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// ErrAPIKeyNotFound is an unknown key, or one of another tenant.
var ErrAPIKeyNotFound = models.Errorf(models.KindNotFound, "api_key_not_found", "no such API key")

// APIKeyView is an API key without its secret: the prefix tells keys apart
// (an API key is q2o_<prefix>_…).
type APIKeyView struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func apiKeyView(k models.APIKey) APIKeyView {
	return APIKeyView{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// CreatedAPIKey is a new API key with its plaintext, shown only this once.
type CreatedAPIKey struct {
	APIKeyView
	Key string `json:"key"`
}

// CreateAPIKey makes another API key for the tenant; its other keys keep
// working (revoke the old one once the new one is in use). Name defaults to
// "admin".
// Errors: invalid_field, field_too_long (400), tenant_not_found (404).
func (s *Service) CreateAPIKey(ctx context.Context, tenantID uuid.UUID, name string) (CreatedAPIKey, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "admin"
	}
	if !utf8.ValidString(name) {
		return CreatedAPIKey{}, models.FieldError("name", "invalid_field", "name must be UTF-8 text")
	}
	if utf8.RuneCountInString(name) > 100 {
		return CreatedAPIKey{}, models.FieldError("name", "field_too_long", "name must be at most 100 characters")
	}
	var t models.Tenant
	err := s.DB.WithContext(ctx).Where("id = ?", tenantID).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return CreatedAPIKey{}, models.ErrTenantNotFound
	}
	if err != nil {
		return CreatedAPIKey{}, fmt.Errorf("read tenant: %w", err)
	}
	key, err := s.NewAPIKey(ctx, t, name)
	if err != nil {
		return CreatedAPIKey{}, err
	}
	// Its row, by the hash that NewAPIKey stored (the keys are SHA-256'd).
	h := sha256.Sum256([]byte(key))
	var k models.APIKey
	if err := s.DB.WithContext(ctx).Where("tenant_id = ? AND key_hash = ?", tenantID, h[:]).Take(&k).Error; err != nil {
		return CreatedAPIKey{}, fmt.Errorf("read the new key: %w", err)
	}
	return CreatedAPIKey{APIKeyView: apiKeyView(k), Key: key}, nil
}

// APIKeys lists the tenant's API keys, revoked ones too, newest first.
// Errors: tenant_not_found (404).
func (s *Service) APIKeys(ctx context.Context, tenantID uuid.UUID) ([]APIKeyView, error) {
	if err := s.tenantExists(ctx, tenantID); err != nil {
		return nil, err
	}
	var rows []models.APIKey
	if err := s.DB.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]APIKeyView, len(rows))
	for i := range rows {
		out[i] = apiKeyView(rows[i])
	}
	return out, nil
}

// RevokeAPIKey revokes one of the tenant's API keys at once (the requests
// and streams it opened end); revoking twice is not an error.
// Errors: api_key_not_found (404, also for another tenant's key).
func (s *Service) RevokeAPIKey(ctx context.Context, tenantID, keyID uuid.UUID) (APIKeyView, error) {
	gdb := s.DB.WithContext(ctx)
	if err := gdb.Model(&models.APIKey{}).Where("id = ? AND tenant_id = ? AND revoked_at IS NULL", keyID, tenantID).
		Update("revoked_at", s.Now()).Error; err != nil {
		return APIKeyView{}, fmt.Errorf("revoke API key: %w", err)
	}
	s.auth.forget(keyID) // at once here; other replicas within AuthCacheTTL
	var k models.APIKey
	err := gdb.Where("id = ? AND tenant_id = ?", keyID, tenantID).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return APIKeyView{}, ErrAPIKeyNotFound
	}
	if err != nil {
		return APIKeyView{}, fmt.Errorf("read API key: %w", err)
	}
	return apiKeyView(k), nil
}
