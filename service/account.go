package service

import (
	"context"
	"encoding/json"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/models"
)

// Profile is what a tenant sees of itself: its details, its plan and limits,
// its subscription and this month's activation-code quota.
type Profile struct {
	ID           uuid.UUID           `json:"id"`
	Name         string              `json:"name"`
	Email        string              `json:"email"`
	Phone        *string             `json:"phone"`
	LogoURL      *string             `json:"logo_url"`
	PrimaryColor *string             `json:"primary_color"`
	Domain       *string             `json:"domain"`
	Plan         models.Plan         `json:"plan"`
	Subscription ProfileSubscription `json:"subscription"`
	CodeQuota    CodeQuota           `json:"code_quota"`
	RunQuota     RunQuota            `json:"run_quota"`
	// PendingEmail is a new sign-in email waiting for the code mailed to
	// it (ConfirmEmailChange); Email stays the sign-in email until then.
	PendingEmail *PendingEmail `json:"pending_email"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// ProfileSubscription is the part of the subscription a tenant sees.
type ProfileSubscription struct {
	Status            models.SubscriptionStatus `json:"status"`
	CurrentPeriodEnd  *time.Time                `json:"current_period_end"`
	TrialEnd          *time.Time                `json:"trial_end"`
	CancelAtPeriodEnd bool                      `json:"cancel_at_period_end"`
}

// CodeQuota is the plan's monthly activation-code quota and its use in the
// current calendar month (UTC). Every code made this month counts, revoked
// or not, whether the tenant or an operator made it.
type CodeQuota struct {
	MonthlyLimit  int       `json:"monthly_limit"`
	UsedThisMonth int       `json:"used_this_month"`
	Remaining     int       `json:"remaining"`
	ResetsAt      time.Time `json:"resets_at"`
}

// Profile returns the tenant's profile.
// Errors: unauthorized (401, the tenant no longer exists).
func (s *Service) Profile(ctx context.Context, tenantID uuid.UUID) (Profile, error) {
	return s.profile(s.DB.WithContext(ctx), tenantID)
}

func (s *Service) profile(tx *gorm.DB, tenantID uuid.UUID) (Profile, error) {
	var t models.Tenant
	if err := tx.Where("id = ?", tenantID).Take(&t).Error; err != nil {
		return Profile{}, notFound(err, models.ErrUnauthorized)
	}
	var plan models.Plan
	if err := tx.Where("code = ?", t.PlanCode).Take(&plan).Error; err != nil {
		return Profile{}, err
	}
	var sub models.Subscription
	if err := tx.Where("tenant_id = ?", tenantID).Take(&sub).Error; err != nil {
		return Profile{}, notFound(err, models.ErrUnauthorized)
	}
	quota, err := s.codeQuota(tx, tenantID, plan.MonthlyCodeQuota)
	if err != nil {
		return Profile{}, err
	}
	runs, err := s.runQuota(tx, tenantID, plan.MonthlyRunQuota)
	if err != nil {
		return Profile{}, err
	}
	pending, err := pendingEmail(tx, tenantID, s.Now())
	if err != nil {
		return Profile{}, err
	}
	return Profile{
		ID: t.ID, Name: t.Name, Email: t.Email, Phone: t.Phone, LogoURL: t.LogoURL,
		PrimaryColor: t.PrimaryColor, Domain: t.Domain, Plan: plan, UpdatedAt: t.UpdatedAt,
		Subscription: ProfileSubscription{Status: sub.Status, CurrentPeriodEnd: sub.CurrentPeriodEnd,
			TrialEnd: sub.TrialEnd, CancelAtPeriodEnd: sub.CancelAtPeriodEnd},
		CodeQuota: quota, RunQuota: runs, PendingEmail: pending,
	}, nil
}

// OptionalField is a request field that tells three cases apart: absent
// from the body (Set false: leave the value alone), null (Set true, Value
// nil: clear it) and a value.
type OptionalField[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON records that the field was present. encoding/json calls it
// for null too, which is what tells null from absent.
func (f *OptionalField[T]) UnmarshalJSON(b []byte) error {
	f.Set, f.Value = true, nil
	if string(b) == "null" {
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	f.Value = &v
	return nil
}

// ProfileUpdate is a change to a tenant's profile. Fields absent from the
// body are left alone; null (or a blank string) clears phone, logo_url,
// primary_color and domain; name and email cannot be cleared.
type ProfileUpdate struct {
	Name         OptionalField[string] `json:"name"`
	Email        OptionalField[string] `json:"email"`
	Phone        OptionalField[string] `json:"phone"`
	LogoURL      OptionalField[string] `json:"logo_url"`
	PrimaryColor OptionalField[string] `json:"primary_color"`
	Domain       OptionalField[string] `json:"domain"`
}

// Profile field limits.
const (
	maxEmailLen  = 254
	maxURLLen    = 2048
	maxDomainLen = 253
)

// UpdateProfile changes the tenant's profile and returns the result. A new
// email (other than a change of letter case) does not take effect here: it
// becomes the profile's PendingEmail, a code is mailed to it, and
// ConfirmEmailChange makes the change; the other fields change at once.
// The current email, sent again (as a form does), changes nothing and
// leaves a pending change alone.
// Errors (400, with the field named): missing_field, blank_field,
// invalid_field, field_too_long (name); missing_field, invalid_email
// (email); invalid_phone, invalid_url (logo_url), invalid_color
// (primary_color), invalid_domain. email_taken, domain_taken (409),
// unauthorized (401).
func (s *Service) UpdateProfile(ctx context.Context, tenantID uuid.UUID, in ProfileUpdate) (Profile, error) {
	changes, err := in.changes()
	if err != nil {
		return Profile{}, err
	}
	var p Profile
	var newEmail, code string
	err = s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		if email, ok := changes["email"].(string); ok {
			var current []string
			if err := tx.Model(&models.Tenant{}).Where("id = ?", tenantID).Pluck("email", &current).Error; err != nil {
				return err
			}
			if len(current) == 0 {
				return models.ErrUnauthorized
			}
			if !strings.EqualFold(email, current[0]) {
				delete(changes, "email")
				var err error
				if code, err = s.startEmailChange(tx, tenantID, email); err != nil {
					return err
				}
				newEmail = email
			}
		}
		if len(changes) > 0 {
			changes["updated_at"] = s.Now()
			res := tx.Model(&models.Tenant{}).Where("id = ?", tenantID).Updates(changes)
			if db.IsUniqueViolation(res.Error, "tenants_email_key") {
				return &models.Error{Kind: models.KindConflict, Code: "email_taken", Field: "email",
					Message: "another tenant uses this email"}
			}
			if db.IsUniqueViolation(res.Error, "tenants_domain_key") {
				return &models.Error{Kind: models.KindConflict, Code: "domain_taken", Field: "domain",
					Message: "another tenant uses this domain"}
			}
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return models.ErrUnauthorized
			}
		}
		var err error
		p, err = s.profile(tx, tenantID)
		return err
	})
	if err != nil {
		return Profile{}, err
	}
	if newEmail != "" {
		s.mailEmailCode(ctx, tenantID, newEmail, code)
	}
	return p, nil
}

// changes validates the update and returns the columns to set.
func (in ProfileUpdate) changes() (map[string]any, error) {
	ch := map[string]any{}
	if in.Name.Set {
		name, err := requiredText("name", in.Name.Value, maxNameLen)
		if err != nil {
			return nil, err
		}
		ch["name"] = name
	}
	if in.Email.Set {
		email, err := profileEmail(in.Email.Value)
		if err != nil {
			return nil, err
		}
		ch["email"] = email
	}
	for _, f := range []struct {
		column string
		field  OptionalField[string]
		check  func(string) (string, error)
	}{
		{"phone", in.Phone, profilePhone},
		{"logo_url", in.LogoURL, profileLogoURL},
		{"primary_color", in.PrimaryColor, profileColor},
		{"domain", in.Domain, profileDomain},
	} {
		if !f.field.Set {
			continue
		}
		if f.field.Value == nil || strings.TrimSpace(*f.field.Value) == "" {
			ch[f.column] = nil
			continue
		}
		v, err := f.check(strings.TrimSpace(*f.field.Value))
		if err != nil {
			return nil, err
		}
		ch[f.column] = v
	}
	return ch, nil
}

func profileEmail(v *string) (string, error) {
	if v == nil || strings.TrimSpace(*v) == "" {
		return "", models.FieldError("email", "missing_field", "email is required; it cannot be cleared")
	}
	return checkEmail(*v)
}

// checkEmail is the one rule for a tenant's email, wherever it is set or
// typed (admin create-tenant, profile, OTP sign-in): a plain address of at
// most 254 bytes (what SMTP carries), returned trimmed.
// Errors: missing_field, invalid_email (400, field email).
func checkEmail(v string) (string, error) {
	email := strings.TrimSpace(v)
	if email == "" {
		return "", models.FieldError("email", "missing_field", "email is required")
	}
	if len(email) > maxEmailLen {
		return "", models.FieldError("email", "invalid_email", "email must be at most %d characters", maxEmailLen)
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !utf8.ValidString(email) {
		return "", models.FieldError("email", "invalid_email", "email must be a plain address such as ops@example.com")
	}
	return email, nil
}

// phoneSeparators may be typed between the digits; they are dropped.
var phoneSeparators = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "")

// profilePhone accepts an international number: +, then 7 to 15 digits, the
// first not 0 (E.164), with optional spaces, dashes, dots or parentheses,
// which are dropped.
func profilePhone(v string) (string, error) {
	p := phoneSeparators.Replace(v)
	digits, ok := strings.CutPrefix(p, "+")
	valid := ok && len(digits) >= 7 && len(digits) <= 15 && digits[0] != '0'
	for i := 0; valid && i < len(digits); i++ {
		valid = digits[i] >= '0' && digits[i] <= '9'
	}
	if !valid {
		return "", models.FieldError("phone", "invalid_phone", "phone must be an international number: + and 7 to 15 digits, such as +14155550123")
	}
	return p, nil
}

// profileLogoURL accepts an absolute http or https URL with a host and no
// credentials in it.
func profileLogoURL(v string) (string, error) {
	bad := models.FieldError("logo_url", "invalid_url", "logo_url must be an absolute http or https URL, such as https://example.com/logo.png")
	if len(v) > maxURLLen {
		return "", models.FieldError("logo_url", "invalid_url", "logo_url must be at most %d characters", maxURLLen)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil ||
		strings.ContainsAny(v, " \t\r\n") {
		return "", bad
	}
	return v, nil
}

var colorPattern = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// profileColor accepts #RRGGBB and keeps it in upper case.
func profileColor(v string) (string, error) {
	if !colorPattern.MatchString(v) {
		return "", models.FieldError("primary_color", "invalid_color", "primary_color must be #RRGGBB, such as #1A2B3C")
	}
	return strings.ToUpper(v), nil
}

// profileDomain accepts a host name (RFC 1123: dot-separated labels of
// letters, digits and inner hyphens, at least two labels, the last not all
// digits) and keeps it in lower case. A scheme, port, path or IP address is
// refused; so are non-ASCII names (give the xn-- form).
func profileDomain(v string) (string, error) {
	d := strings.ToLower(v)
	bad := models.FieldError("domain", "invalid_domain", "domain must be a host name such as portal.example.com, without scheme, port or path")
	if len(d) > maxDomainLen || !utf8.ValidString(d) {
		return "", bad
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "", bad
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", bad
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", bad
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", bad // an IPv4 address, or a numeric top-level label
	}
	return d, nil
}
