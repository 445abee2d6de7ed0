package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/models"
)

// Changing the sign-in email. The email is how a tenant signs in (OTP), so
// a typo must not lock it out: UpdateProfile keeps the current email and
// records the new one as pending, mailing a 6-digit code to the new
// address; ConfirmEmailChange, with that code, makes the change. Until then
// the tenant signs in with the old address. A change of letter case only is
// the same address, and is made at once.

// The email-change limits.
const (
	EmailChangeTTL         = 30 * time.Minute
	EmailChangeMaxAttempts = 5
)

// PendingEmail is a change of email waiting for its code.
type PendingEmail struct {
	Email     string    `json:"email"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ErrInvalidEmailCode answers a confirmation that does not confirm: no
// change pending, or the code wrong, expired or burnt.
var ErrInvalidEmailCode = &models.Error{Kind: models.KindUnprocessable, Code: "invalid_email_code", Field: "code",
	Message: "the code is wrong or expired, or no email change is pending; change the email again for a new code"}

func hashEmailCode(tenantID uuid.UUID, email, code string) []byte {
	return hashSecret("email-change:" + tenantID.String() + ":" + strings.ToLower(email) + ":" + code)
}

// pendingEmail reads the tenant's live pending change, if any.
func pendingEmail(tx *gorm.DB, tenantID uuid.UUID, now time.Time) (*PendingEmail, error) {
	var rows []models.EmailChange
	err := tx.Where("tenant_id = ? AND expires_at > ? AND attempts < ?", tenantID, now, EmailChangeMaxAttempts).
		Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &PendingEmail{Email: rows[0].NewEmail, ExpiresAt: rows[0].ExpiresAt}, nil
}

// startEmailChange records email as the tenant's pending email (replacing
// any earlier one) and returns the code to mail to it.
// Errors: email_taken (409).
func (s *Service) startEmailChange(tx *gorm.DB, tenantID uuid.UUID, email string) (string, error) {
	var other int64
	if err := tx.Model(&models.Tenant{}).Where("lower(email) = lower(?) AND id <> ?", email, tenantID).
		Count(&other).Error; err != nil {
		return "", err
	}
	if other > 0 {
		return "", &models.Error{Kind: models.KindConflict, Code: "email_taken", Field: "email",
			Message: "another tenant uses this email"}
	}
	code, now := newOTP(), s.Now()
	row := models.EmailChange{TenantID: tenantID, NewEmail: email, CodeHash: hashEmailCode(tenantID, email, code),
		ExpiresAt: now.Add(EmailChangeTTL), CreatedAt: now}
	err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "tenant_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"new_email", "code_hash", "attempts", "expires_at", "created_at"})}).
		Create(&row).Error
	return code, err
}

// mailEmailCode sends the confirmation code to the new address in the
// background, as sign-in codes go (Wait waits for it).
func (s *Service) mailEmailCode(ctx context.Context, tenantID uuid.UUID, email, code string) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), otpSendTimeout)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer cancel()
		if s.Mailer == nil {
			s.Log.Warn("no SMTP server set (Q2O_SMTP_HOST): email-change code written to the log, for development only",
				"tenant_id", tenantID, "email", email, "code", code)
			return
		}
		body := "Someone asked to make this address the sign-in email of a q2o account.\n\n" +
			"To confirm, enter this code on the profile page:\n\n" +
			"    " + code + "\n\n" +
			fmt.Sprintf("It expires in %d minutes. Until it is entered, the account keeps its current email.\n\n", int(EmailChangeTTL/time.Minute)) +
			"If you did not ask for this, ignore this email.\n"
		if err := s.Mailer.Send(bg, email, "Confirm your new q2o sign-in email", body); err != nil {
			s.Log.Error("email-change code not sent", "tenant_id", tenantID, "error", err)
			return
		}
		s.Log.Info("email-change code sent", "tenant_id", tenantID)
	}()
}

// EmailCode is the code that confirms a change of email.
type EmailCode struct {
	Code string `json:"code"`
}

// Validate checks the code's form.
// Errors: missing_field, invalid_code_format (400).
func (e *EmailCode) Validate() error {
	e.Code = strings.TrimSpace(e.Code)
	if e.Code == "" {
		return models.FieldError("code", "missing_field", "code is required")
	}
	if len(e.Code) != 6 || strings.Trim(e.Code, "0123456789") != "" {
		return models.FieldError("code", "invalid_code_format", "code must be the 6 digits from the email")
	}
	return nil
}

// ConfirmEmailChange makes the pending email the tenant's, given the code
// mailed to it, and returns the profile. A wrong code counts a try; after
// EmailChangeMaxAttempts the change is void.
// Errors: missing_field, invalid_code_format (400), invalid_email_code
// (422), email_taken (409, another tenant took the address meanwhile),
// unauthorized (401).
func (s *Service) ConfirmEmailChange(ctx context.Context, tenantID uuid.UUID, in EmailCode) (Profile, error) {
	if err := in.Validate(); err != nil {
		return Profile{}, err
	}
	var p Profile
	var wrong bool
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		now := s.Now()
		var rows []models.EmailChange
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("tenant_id = ?", tenantID).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			wrong = true
			return nil
		}
		row := rows[0]
		if !now.Before(row.ExpiresAt) || row.Attempts >= EmailChangeMaxAttempts {
			wrong = true
			return tx.Where("tenant_id = ?", tenantID).Delete(&models.EmailChange{}).Error
		}
		if !equalHash(row.CodeHash, hashEmailCode(tenantID, row.NewEmail, in.Code)) {
			wrong = true
			return tx.Model(&models.EmailChange{}).Where("tenant_id = ?", tenantID).Update("attempts", gorm.Expr("attempts + 1")).Error
		}
		res := tx.Model(&models.Tenant{}).Where("id = ?", tenantID).Updates(map[string]any{"email": row.NewEmail, "updated_at": now})
		if db.IsUniqueViolation(res.Error, "tenants_email_key") {
			return &models.Error{Kind: models.KindConflict, Code: "email_taken", Field: "email",
				Message: "another tenant uses this email"}
		}
		if res.Error != nil {
			return res.Error
		}
		if err := tx.Where("tenant_id = ?", tenantID).Delete(&models.EmailChange{}).Error; err != nil {
			return err
		}
		// A code for the old address is void: it no longer signs in.
		if err := tx.Exec("DELETE FROM otp_codes WHERE tenant_id = ?", tenantID).Error; err != nil {
			return err
		}
		var err error
		p, err = s.profile(tx, tenantID)
		return err
	})
	if err != nil {
		return Profile{}, err
	}
	if wrong {
		return Profile{}, ErrInvalidEmailCode
	}
	s.Log.Info("sign-in email changed", "tenant_id", tenantID)
	return p, nil
}

// CancelEmailChange drops the tenant's pending change of email, if any.
func (s *Service) CancelEmailChange(ctx context.Context, tenantID uuid.UUID) error {
	err := s.DB.WithContext(ctx).Where("tenant_id = ?", tenantID).Delete(&models.EmailChange{}).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	return err
}
