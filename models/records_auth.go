package models

import (
	"time"

	"github.com/google/uuid"
)

// The rows of sign-ins: tenants' one-time codes and sessions, email changes,
// and clients' sessions. Only hashes of their secrets are kept.

// OTPCode is a row of otp_codes: a tenant's pending sign-in code, hashed.
type OTPCode struct {
	TenantID  uuid.UUID `gorm:"type:uuid;primaryKey"`
	CodeHash  []byte
	Attempts  int
	ExpiresAt time.Time
	CreatedAt time.Time
}

// TableName keeps GORM off its pluralising guess.
func (OTPCode) TableName() string { return "otp_codes" }

// TenantSession is a row of sessions: a tenant's sign-in (q2s_… token,
// hashed, with its visible prefix).
type TenantSession struct {
	ID        uuid.UUID `gorm:"type:uuid;primaryKey"`
	TenantID  uuid.UUID `gorm:"type:uuid"`
	Prefix    string
	TokenHash []byte
	ExpiresAt time.Time
	EndedAt   *time.Time
	CreatedAt time.Time
}

// TableName keeps GORM off its pluralising guess.
func (TenantSession) TableName() string { return "sessions" }

// EmailChange is a row of email_changes: a new email waiting for the code
// sent to it.
type EmailChange struct {
	TenantID  uuid.UUID `gorm:"type:uuid;primaryKey"`
	NewEmail  string
	CodeHash  []byte
	Attempts  int
	ExpiresAt time.Time
	CreatedAt time.Time
}

// TableName keeps GORM off its pluralising guess.
func (EmailChange) TableName() string { return "email_changes" }

// ClientSession is a row of client_sessions: a client's sign-in to one
// project (q2c_… token, hashed), valid while its code still opens it.
type ClientSession struct {
	ID               uuid.UUID `gorm:"type:uuid;primaryKey"`
	Prefix           string
	TokenHash        []byte
	ProjectID        uuid.UUID `gorm:"type:uuid"`
	ActivationCodeID uuid.UUID `gorm:"type:uuid"`
	ExpiresAt        time.Time
	CreatedAt        time.Time
}

// TableName keeps GORM off its pluralising guess.
func (ClientSession) TableName() string { return "client_sessions" }
