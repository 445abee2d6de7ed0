package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// Sign-in for the tenant portal: a 6-digit code mailed to the tenant's
// address (OTP) is traded for a session token that works like an API key.
//
// Codes and tokens are kept only as SHA-256 hashes and compared in constant
// time. A tenant has at most one pending code: a new request replaces it.
// A code lasts OTPTTL, works once, and is burnt after OTPMaxAttempts wrong
// tries. Whether an email belongs to a tenant is never told: the request
// answers the same, at once, and does its work (lookup, store, mail) in the
// background; a failed verify answers invalid_code whatever the reason.

// The sign-in limits.
const (
	OTPTTL            = 10 * time.Minute
	OTPMaxAttempts    = 5
	DefaultSessionTTL = 12 * time.Hour
	// otpSendTimeout bounds the background work of one code request.
	otpSendTimeout = 30 * time.Second
	// SessionTokenPrefix starts every session token, and tells it from an
	// API key (q2o_).
	SessionTokenPrefix = "q2s_"
)

// Mailer sends one plain-text email; *mail.SMTP is one. A Service without a
// Mailer writes sign-in codes to its log instead (development).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// ErrInvalidCode is the one answer to a code that does not sign in: wrong,
// expired, used, burnt, or for an unknown email.
var ErrInvalidCode = models.Errorf(models.KindUnauthorized, "invalid_code",
	"the code is wrong, expired or already used; ask for a new one")

// errNoSession answers a logout without a live session token.
var errNoSession = models.Errorf(models.KindUnauthorized, "unauthorized",
	"a valid session token is required: Authorization: Bearer <token>")

// OTPRequest asks for a sign-in code.
type OTPRequest struct {
	Email string `json:"email"`
}

// Validate checks the email and normalises it (trimmed, lower case: tenant
// emails are unique regardless of case).
// Errors: missing_field, invalid_email (400).
func (r *OTPRequest) Validate() error {
	email, err := parseEmail(r.Email)
	r.Email = email
	return err
}

// OTPVerify trades a code for a session.
type OTPVerify struct {
	Email string `json:"email"`
	Code  string `json:"code"`
}

// Validate checks both fields and normalises them.
// Errors: missing_field, invalid_email, invalid_code_format (400).
func (v *OTPVerify) Validate() error {
	email, err := parseEmail(v.Email)
	if err != nil {
		return err
	}
	v.Email = email
	v.Code = strings.TrimSpace(v.Code)
	if v.Code == "" {
		return models.FieldError("code", "missing_field", "code is required")
	}
	if len(v.Code) != 6 || strings.Trim(v.Code, "0123456789") != "" {
		return models.FieldError("code", "invalid_code_format", "code must be the 6 digits from the email")
	}
	return nil
}

func parseEmail(s string) (string, error) {
	email, err := checkEmail(s)
	if err != nil {
		return "", err
	}
	return strings.ToLower(email), nil
}

// Session is a new sign-in; Token is shown only this once.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RequestOTP starts sending a sign-in code to the tenant with this email and
// returns at once: the lookup, the stored code and the mail happen in the
// background (bounded by otpSendTimeout), so neither the answer nor its
// timing says whether the email is known. Wait waits for that work.
// Errors: missing_field, invalid_email (400).
func (s *Service) RequestOTP(ctx context.Context, in OTPRequest) error {
	if err := in.Validate(); err != nil {
		return err
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), otpSendTimeout)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer cancel()
		if err := s.sendOTP(bg, in.Email); err != nil {
			s.Log.Error("sign-in code not sent", "error", err)
		}
	}()
	return nil
}

// Wait waits for the background work that RequestOTP started.
func (s *Service) Wait() { s.bg.Wait() }

// sendOTP makes, stores and mails a new code for the tenant whose email this
// is (already normalised); for an unknown email it does nothing.
func (s *Service) sendOTP(ctx context.Context, email string) error {
	var t models.Tenant
	err := s.DB.WithContext(ctx).Where("lower(email) = ?", email).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find tenant: %w", err)
	}
	code := newOTP()
	now := s.Now()
	err = s.DB.WithContext(ctx).Exec(`INSERT INTO otp_codes (tenant_id, code_hash, attempts, expires_at, created_at)
		VALUES (?, ?, 0, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, attempts = 0,
			expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at`,
		t.ID, hashOTP(t.ID, code), now.Add(OTPTTL), now).Error
	if err != nil {
		return fmt.Errorf("store sign-in code of tenant %s: %w", t.ID, err)
	}
	if s.Mailer == nil {
		// The one place a code is ever logged: no SMTP server is set.
		s.Log.Warn("no SMTP server set (Q2O_SMTP_HOST): sign-in code written to the log, for development only",
			"tenant_id", t.ID, "email", t.Email, "code", code)
		return nil
	}
	if err := s.Mailer.Send(ctx, t.Email, "Your q2o sign-in code", otpMailBody(code)); err != nil {
		return fmt.Errorf("mail sign-in code to tenant %s: %w", t.ID, err)
	}
	s.Log.Info("sign-in code sent", "tenant_id", t.ID)
	return nil
}

func otpMailBody(code string) string {
	return "Your q2o sign-in code is:\n\n" +
		"    " + code + "\n\n" +
		fmt.Sprintf("It works once and expires in %d minutes.\n\n", int(OTPTTL/time.Minute)) +
		"If you did not ask to sign in, ignore this email: nobody can sign in without the code.\n"
}

// VerifyOTP trades a valid code for a new session: the code is used up and a
// token made. A wrong code counts a try against it.
// Errors: missing_field, invalid_email, invalid_code_format (400), invalid_code (401).
func (s *Service) VerifyOTP(ctx context.Context, in OTPVerify) (Session, error) {
	if err := in.Validate(); err != nil {
		return Session{}, err
	}
	now := s.Now()
	token, prefix := newSessionToken()
	out := Session{Token: token, ExpiresAt: now.Add(s.sessionTTL())}
	var verdict otpVerdict
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var row models.OTPCode
		// One query whether or not the email is known, and the row locked so
		// concurrent tries are counted one by one.
		err := tx.Raw(`SELECT o.* FROM otp_codes o JOIN tenants t ON t.id = o.tenant_id
			WHERE lower(t.email) = ? FOR UPDATE OF o`, in.Email).Scan(&row).Error
		if err != nil {
			return err
		}
		verdict = checkOTP(&row, in.Code, now)
		switch verdict {
		case otpRefused:
			return nil
		case otpWrong:
			return tx.Exec("UPDATE otp_codes SET attempts = attempts + 1 WHERE tenant_id = ?", row.TenantID).Error
		}
		if err := tx.Exec("DELETE FROM otp_codes WHERE tenant_id = ?", row.TenantID).Error; err != nil {
			return err
		}
		// Housekeeping: the tenant's ended and expired sessions go.
		if err := tx.Exec("DELETE FROM sessions WHERE tenant_id = ? AND (ended_at IS NOT NULL OR expires_at <= ?)",
			row.TenantID, now).Error; err != nil {
			return err
		}
		return tx.Create(&models.TenantSession{ID: models.NewID(), TenantID: row.TenantID, Prefix: prefix,
			TokenHash: hashSecret(token), ExpiresAt: out.ExpiresAt, CreatedAt: now}).Error
	})
	if err != nil {
		return Session{}, err
	}
	if verdict != otpGood {
		return Session{}, ErrInvalidCode
	}
	return out, nil
}

// otpVerdict is what a try does to a code.
type otpVerdict int

const (
	otpRefused otpVerdict = iota // no code, expired or burnt: nothing changes
	otpWrong                     // a live code, the wrong digits: one try counted
	otpGood                      // the right digits: the code is used up
)

// checkOTP judges a try of code against row (a zero row: no code).
func checkOTP(row *models.OTPCode, code string, now time.Time) otpVerdict {
	switch {
	case row.TenantID == uuid.Nil, !now.Before(row.ExpiresAt), row.Attempts >= OTPMaxAttempts:
		return otpRefused
	case !equalHash(row.CodeHash, hashOTP(row.TenantID, code)):
		return otpWrong
	}
	return otpGood
}

// Logout ends the session of token; afterwards the token answers 401.
// Errors: unauthorized (401) for anything but a live session token.
func (s *Service) Logout(ctx context.Context, token string) error {
	row, err := s.liveSession(ctx, token)
	if err != nil {
		return errNoSession
	}
	err = s.DB.WithContext(ctx).Model(&models.TenantSession{}).Where("id = ? AND ended_at IS NULL", row.ID).
		Update("ended_at", s.Now()).Error
	s.auth.forget(row.ID) // at once here; other replicas within AuthCacheTTL
	return err
}

func (s *Service) liveSession(ctx context.Context, token string) (models.TenantSession, error) {
	var row models.TenantSession
	prefix, ok := parseSessionToken(token)
	if !ok {
		return row, models.ErrUnauthorized
	}
	err := s.DB.WithContext(ctx).Where("prefix = ? AND ended_at IS NULL AND expires_at > ?", prefix, s.Now()).
		Take(&row).Error
	if err != nil {
		return row, notFound(err, models.ErrUnauthorized)
	}
	if !equalHash(row.TokenHash, hashSecret(token)) {
		return row, models.ErrUnauthorized
	}
	return row, nil
}

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// newOTP returns 6 random digits, each of the million codes equally likely.
func newOTP() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// hashOTP binds the code to its tenant, so equal codes of two tenants do not
// hash alike.
func hashOTP(tenantID uuid.UUID, code string) []byte {
	return hashSecret("otp:" + tenantID.String() + ":" + code)
}

// Session tokens look like q2s_<8-char prefix>_<32-char secret> (200 random
// bits); as with API keys, the prefix finds the row and the hash of the whole
// token is compared in constant time.
func newSessionToken() (token, prefix string) { return newToken(SessionTokenPrefix) }

func parseSessionToken(token string) (prefix string, ok bool) {
	return parseToken(token, SessionTokenPrefix)
}
