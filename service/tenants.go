package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/models"
)

// NewTenant is what an operator gives to create a tenant.
type NewTenant struct {
	Name               string `json:"name"`
	Email              string `json:"email"`
	Plan               string `json:"plan"`
	SubscriptionStatus string `json:"subscription_status"`
}

// CreatedTenant is a new tenant with its API key, shown only this once.
type CreatedTenant struct {
	models.Tenant
	SubscriptionStatus models.SubscriptionStatus `json:"subscription_status"`
	APIKey             string                    `json:"api_key"`
}

// CreateTenant creates a tenant, its subscription and its first API key.
// Plan defaults to trial and status to trialing.
// Name and email follow the profile's limits (a name of at most 200
// characters, an email OTP can sign in with).
// Errors: missing_field, invalid_field, field_too_long, invalid_email,
// unknown_plan, invalid_status (400), email_taken (409).
func (s *Service) CreateTenant(ctx context.Context, in NewTenant) (CreatedTenant, error) {
	if strings.TrimSpace(in.Name) == "" {
		return CreatedTenant{}, models.FieldError("name", "missing_field", "name is required")
	}
	name, err := requiredText("name", &in.Name, maxNameLen)
	if err != nil {
		return CreatedTenant{}, err
	}
	email, err := checkEmail(in.Email)
	if err != nil {
		return CreatedTenant{}, err
	}
	in.Name, in.Email = name, email
	if in.Plan == "" {
		in.Plan = "trial"
	}
	status := models.SubscriptionStatus(in.SubscriptionStatus)
	if status == "" {
		status = models.SubTrialing
	}
	if !status.Valid() {
		return CreatedTenant{}, models.FieldError("subscription_status", "invalid_status",
			"subscription_status must be one of %v", models.SubscriptionStatuses)
	}
	key, prefix := newAPIKey()
	now := s.Now()
	t := models.Tenant{ID: models.NewID(), Name: in.Name, Email: in.Email, PlanCode: in.Plan, CreatedAt: now, UpdatedAt: now}
	err = s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var n int64
		if err := tx.Model(&models.Plan{}).Where("code = ?", in.Plan).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return models.FieldError("plan", "unknown_plan", "no plan %q", in.Plan)
		}
		if err := tx.Create(&t).Error; err != nil {
			if db.IsUniqueViolation(err, "tenants_email_key") {
				return models.Errorf(models.KindConflict, "email_taken", "a tenant with this email exists")
			}
			return err
		}
		sub := models.Subscription{TenantID: t.ID, Status: status, UpdatedAt: now}
		if err := tx.Create(&sub).Error; err != nil {
			return err
		}
		return tx.Create(&models.APIKey{ID: models.NewID(), TenantID: t.ID, Prefix: prefix,
			KeyHash: hashSecret(key), Name: "default", CreatedAt: now}).Error
	})
	if err != nil {
		return CreatedTenant{}, err
	}
	return CreatedTenant{Tenant: t, SubscriptionStatus: status, APIKey: key}, nil
}

// Authenticate returns the tenant that owns an API key or a live session
// token (q2s_…, from an OTP sign-in). A credential checked in the last
// AuthCacheTTL is not asked of the database again: a key revoked or a
// session ended elsewhere is refused here within MaxRevocationDelay.
// Errors: unauthorized (401).
func (s *Service) Authenticate(ctx context.Context, key string) (uuid.UUID, error) {
	if id, ok := s.auth.get(key, s.Now()); ok {
		return id, nil
	}
	return s.AuthenticateNow(ctx, key)
}

// AuthenticateNow is Authenticate asking the database, whatever it
// remembers: for a long answer (an event stream, a followed log) that
// rechecks its credential as it goes.
// Errors: unauthorized (401).
func (s *Service) AuthenticateNow(ctx context.Context, key string) (uuid.UUID, error) {
	if strings.HasPrefix(key, SessionTokenPrefix) {
		row, err := s.liveSession(ctx, key)
		if err != nil {
			return uuid.Nil, err
		}
		s.auth.put(key, row.TenantID, row.ID, s.Now(), &row.ExpiresAt)
		return row.TenantID, nil
	}
	prefix, ok := parseAPIKey(key)
	if !ok {
		return uuid.Nil, models.ErrUnauthorized
	}
	var k models.APIKey
	err := s.DB.WithContext(ctx).Where("prefix = ? AND revoked_at IS NULL", prefix).Take(&k).Error
	if err != nil {
		return uuid.Nil, notFound(err, models.ErrUnauthorized)
	}
	if !equalHash(k.KeyHash, hashSecret(key)) {
		return uuid.Nil, models.ErrUnauthorized
	}
	s.auth.put(key, k.TenantID, k.ID, s.Now(), nil)
	return k.TenantID, nil
}

// SetSubscriptionStatus sets a tenant's subscription status. When the status
// stops allowing runs, a tenant:pause task is written in the same
// transaction, as for a Stripe event (models.PauseFor): at once, or for
// past_due after s.PastDueGrace.
// Errors: invalid_status (400), tenant_not_found (404).
func (s *Service) SetSubscriptionStatus(ctx context.Context, tenantID uuid.UUID, status models.SubscriptionStatus, reason string) (models.Subscription, error) {
	if !status.Valid() {
		return models.Subscription{}, models.FieldError("status", "invalid_status", "status must be one of %v", models.SubscriptionStatuses)
	}
	var sub models.Subscription
	err := s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("tenant_id = ?", tenantID).Take(&sub).Error; err != nil {
			return notFound(err, models.ErrTenantNotFound)
		}
		was := sub.Status
		sub.Status, sub.UpdatedAt = status, s.Now()
		if err := tx.Model(&sub).Updates(statusChange(was, status, sub.UpdatedAt)).Error; err != nil {
			return err
		}
		if reason == "" {
			reason = fmt.Sprintf("subscription %s", status)
		}
		return s.pauseIfInactive(tx, ob, tenantID, was, status, s.PastDueGrace, reason)
	})
	return sub, err
}

// IssuedCode is a new activation code; Code is shown only this once.
type IssuedCode struct {
	models.ActivationCode
	Code string `json:"code"`
}

// NewCodes says how many codes to make and how.
type NewCodes struct {
	Count     int        `json:"count"`
	MaxUses   int        `json:"max_uses"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// IssueActivationCodes makes activation codes for a tenant (an operator's
// call: no quota applies). Count defaults to 1 (at most 100), MaxUses to 1.
// Errors: invalid_count, invalid_max_uses, invalid_expires_at (400), tenant_not_found (404).
func (s *Service) IssueActivationCodes(ctx context.Context, tenantID uuid.UUID, in NewCodes) ([]IssuedCode, error) {
	if in.Count == 0 {
		in.Count = 1
	}
	if in.Count < 1 || in.Count > 100 {
		return nil, models.FieldError("count", "invalid_count", "count must be between 1 and 100")
	}
	if in.MaxUses == 0 {
		in.MaxUses = 1
	}
	if in.MaxUses < 1 || in.MaxUses > 1000 {
		return nil, models.FieldError("max_uses", "invalid_max_uses", "max_uses must be between 1 and 1000")
	}
	now := s.Now()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, models.FieldError("expires_at", "invalid_expires_at", "expires_at must be in the future")
	}
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	out := make([]IssuedCode, in.Count)
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var n int64
		if err := tx.Model(&models.Tenant{}).Where("id = ?", tenantID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return models.ErrTenantNotFound
		}
		rows := make([]models.ActivationCode, in.Count)
		for i := range rows {
			code := newActivationCode()
			rows[i] = models.ActivationCode{ID: models.NewID(), TenantID: tenantID, CodeHash: hashCode(code),
				CodeHint: codeHint(code), MaxUses: in.MaxUses, ExpiresAt: in.ExpiresAt, Month: month, CreatedAt: now}
			out[i].Code = code
		}
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			out[i].ActivationCode = rows[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeActivationCode revokes a code; revoking twice is not an error.
// Errors: activation_code_not_found (404).
func (s *Service) RevokeActivationCode(ctx context.Context, codeID uuid.UUID) (models.ActivationCode, error) {
	var c models.ActivationCode
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", codeID).Take(&c).Error; err != nil {
			return notFound(err, models.ErrCodeNotFound)
		}
		if c.RevokedAt != nil {
			return nil
		}
		now := s.Now()
		c.RevokedAt = &now
		return tx.Model(&c).Update("revoked_at", now).Error
	})
	return c, err
}
