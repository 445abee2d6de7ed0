package service

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/models"
)

// quotaMonth returns the first day of now's calendar month (UTC), the value
// of activation_codes.month for codes made now, and the first day of the
// next month, when the quota resets.
func quotaMonth(now time.Time) (month, next time.Time) {
	now = now.UTC()
	month = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return month, month.AddDate(0, 1, 0)
}

// codeQuota counts the tenant's codes made this month against limit.
func (s *Service) codeQuota(tx *gorm.DB, tenantID uuid.UUID, limit int) (CodeQuota, error) {
	month, next := quotaMonth(s.Now())
	var used int64
	// The month is passed as text so that Postgres reads it as a date
	// whatever the session's time zone.
	err := tx.Model(&models.ActivationCode{}).
		Where("tenant_id = ? AND month = ?", tenantID, month.Format(time.DateOnly)).Count(&used).Error
	if err != nil {
		return CodeQuota{}, err
	}
	return CodeQuota{MonthlyLimit: limit, UsedThisMonth: int(used), Remaining: max(0, limit-int(used)), ResetsAt: next}, nil
}

// CodeListQuery pages through a tenant's activation codes. Page starts at
// 1; PerPage defaults to 20 and is at most 100. Status, when set, keeps the
// codes in that state: available, used_up, expired or revoked (as
// CodeView.Status shows it), or assigned (assigned to at least one project,
// whatever its state).
type CodeListQuery struct {
	Page    int
	PerPage int
	Status  string
}

// Code list paging.
const (
	defaultCodesPerPage = 20
	maxCodesPerPage     = 100
)

// CodeView is an activation code as its tenant sees it: masked (the hint
// holds its last four characters; the plaintext is never shown again), with
// its state and the projects it is assigned to.
type CodeView struct {
	ID        uuid.UUID     `json:"id"`
	Hint      string        `json:"hint"`
	Status    string        `json:"status"`
	MaxUses   int           `json:"max_uses"`
	UseCount  int           `json:"use_count"`
	ExpiresAt *time.Time    `json:"expires_at"`
	RevokedAt *time.Time    `json:"revoked_at"`
	CreatedAt time.Time     `json:"created_at"`
	Projects  []CodeProject `json:"projects"`
}

// CodeProject is a project a code is assigned to (a multi-use code may have
// several). IsActive is false for a deleted project.
type CodeProject struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	IsActive bool      `json:"is_active"`
}

// The states of a code, as CodeView.Status shows them.
const (
	CodeAvailable = "available"
	CodeUsedUp    = "used_up"
	CodeExpired   = "expired"
	CodeRevoked   = "revoked"
)

// CodeAssigned filters the code list (CodeListQuery.Status) to the codes
// assigned to at least one project. It is not a CodeView.Status: an assigned
// code is also available, used up, expired or revoked.
const CodeAssigned = "assigned"

// codeStatus names the state of a code by the rule that assignment applies
// (models.CodeUsable).
func codeStatus(c *models.ActivationCode, now time.Time) string {
	err := models.CodeUsable(c, now)
	if err == nil {
		return CodeAvailable
	}
	return strings.TrimPrefix(models.ErrorCode(err), "activation_code_")
}

// codeStatusWhere is codeStatus written as SQL on activation_codes, one
// condition per state (with now as its one argument), so the list filters
// in the database; plus CodeAssigned. Keep each in step with codeStatus and
// models.CodeUsable: TestCodeStatusFilterAgreesWithCodeStatus checks them
// against each other.
var codeStatusWhere = map[string]string{
	CodeRevoked:   "activation_codes.revoked_at IS NOT NULL",
	CodeExpired:   "activation_codes.revoked_at IS NULL AND activation_codes.expires_at <= ?",
	CodeUsedUp:    models.CodeValidSQL("activation_codes") + " AND activation_codes.use_count >= activation_codes.max_uses",
	CodeAvailable: models.CodeUsableSQL("activation_codes"),
	CodeAssigned:  "EXISTS (SELECT 1 FROM projects p WHERE p.activation_code_id = activation_codes.id AND p.tenant_id = activation_codes.tenant_id)",
}

// codeStatuses lists the filters in the order the error message names them.
var codeStatuses = []string{CodeAvailable, CodeAssigned, CodeUsedUp, CodeExpired, CodeRevoked}

// CodeStatuses are the values the code list's status filter takes, in the
// order a page offers them.
func CodeStatuses() []string { return append([]string(nil), codeStatuses...) }

// whereCodeStatus narrows a query on activation_codes to the codes in
// status at now.
func whereCodeStatus(q *gorm.DB, status string, now time.Time) *gorm.DB {
	cond := codeStatusWhere[status]
	if strings.Contains(cond, "?") {
		return q.Where(cond, now)
	}
	return q.Where(cond)
}

// CodePage is one page of a tenant's codes.
type CodePage struct {
	Items      []CodeView `json:"items"`
	Page       int        `json:"page"`
	PerPage    int        `json:"per_page"`
	Total      int64      `json:"total"`
	TotalPages int64      `json:"total_pages"`
}

// ActivationCodes lists the tenant's codes, newest first, those in
// q.Status only when it is set.
// Errors: invalid_page, invalid_per_page, invalid_status (400).
func (s *Service) ActivationCodes(ctx context.Context, tenantID uuid.UUID, q CodeListQuery) (CodePage, error) {
	if q.Page == 0 {
		q.Page = 1
	}
	if q.Page < 1 {
		return CodePage{}, models.FieldError("page", "invalid_page", "page must be 1 or more")
	}
	if q.PerPage == 0 {
		q.PerPage = defaultCodesPerPage
	}
	if q.PerPage < 1 || q.PerPage > maxCodesPerPage {
		return CodePage{}, models.FieldError("per_page", "invalid_per_page", "per_page must be between 1 and %d", maxCodesPerPage)
	}
	if _, ok := codeStatusWhere[q.Status]; q.Status != "" && !ok {
		return CodePage{}, models.FieldError("status", "invalid_status", "status must be one of %s", strings.Join(codeStatuses, ", "))
	}
	page := CodePage{Items: []CodeView{}, Page: q.Page, PerPage: q.PerPage}
	tx := s.DB.WithContext(ctx)
	now := s.Now()
	codes := func() *gorm.DB {
		q2 := tx.Model(&models.ActivationCode{}).Where("activation_codes.tenant_id = ?", tenantID)
		if q.Status != "" {
			q2 = whereCodeStatus(q2, q.Status, now)
		}
		return q2
	}
	if err := codes().Count(&page.Total).Error; err != nil {
		return CodePage{}, err
	}
	page.TotalPages = (page.Total + int64(q.PerPage) - 1) / int64(q.PerPage)
	if int64(q.Page) > page.TotalPages {
		return page, nil
	}
	var rows []models.ActivationCode
	// Ids are UUIDv7, so id orders codes made in the same instant.
	err := codes().Order("activation_codes.created_at DESC, activation_codes.id DESC").
		Limit(q.PerPage).Offset((q.Page - 1) * q.PerPage).Find(&rows).Error
	if err != nil {
		return CodePage{}, err
	}
	page.Items, err = s.codeViews(tx, tenantID, rows)
	return page, err
}

// AvailableCodes returns the tenant's codes that can be assigned now
// (models.CodeUsable: not revoked, expired or used up), newest first, at
// most 100: the codes a portal offers to pick from.
func (s *Service) AvailableCodes(ctx context.Context, tenantID uuid.UUID) ([]CodeView, error) {
	page, err := s.ActivationCodes(ctx, tenantID, CodeListQuery{PerPage: maxCodesPerPage, Status: CodeAvailable})
	if err != nil {
		return nil, err
	}
	return page.Items, nil
}

// codeViews masks codes and adds the projects each one is assigned to.
func (s *Service) codeViews(tx *gorm.DB, tenantID uuid.UUID, rows []models.ActivationCode) ([]CodeView, error) {
	out := make([]CodeView, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var assigned []struct {
		CodeProject
		ActivationCodeID uuid.UUID
	}
	err := tx.Model(&models.Project{}).Select("id, name, is_active, activation_code_id").
		Where("tenant_id = ? AND activation_code_id IN ?", tenantID, ids).Order("created_at, id").Find(&assigned).Error
	if err != nil {
		return nil, err
	}
	byCode := map[uuid.UUID][]CodeProject{}
	for _, a := range assigned {
		byCode[a.ActivationCodeID] = append(byCode[a.ActivationCodeID], a.CodeProject)
	}
	now := s.Now()
	for i := range rows {
		c := &rows[i]
		projects := byCode[c.ID]
		if projects == nil {
			projects = []CodeProject{}
		}
		out[i] = CodeView{ID: c.ID, Hint: c.CodeHint, Status: codeStatus(c, now), MaxUses: c.MaxUses, UseCount: c.UseCount,
			ExpiresAt: c.ExpiresAt, RevokedAt: c.RevokedAt, CreatedAt: c.CreatedAt, Projects: projects}
	}
	return out, nil
}

// CodeRequest is what a tenant gives to make its own codes. Count defaults
// to 1 (at most 100), MaxUses to 1 (at most 1000); ExpiresInDays, when
// given, is 1 to 3650.
type CodeRequest struct {
	Count         *int `json:"count"`
	MaxUses       *int `json:"max_uses"`
	ExpiresInDays *int `json:"expires_in_days"`
}

// GeneratedCodes are the codes just made, with their plaintext (shown only
// this once), and the quota left after them.
type GeneratedCodes struct {
	Codes     []IssuedCode `json:"codes"`
	CodeQuota CodeQuota    `json:"code_quota"`
}

// Code request limits.
const (
	maxCodesPerRequest = 100
	maxCodeUses        = 1000
	maxCodeDays        = 3650
)

func (in CodeRequest) check() (count, maxUses int, days *int, err error) {
	count, maxUses = 1, 1
	if in.Count != nil {
		if count = *in.Count; count < 1 || count > maxCodesPerRequest {
			return 0, 0, nil, models.FieldError("count", "invalid_count", "count must be between 1 and %d", maxCodesPerRequest)
		}
	}
	if in.MaxUses != nil {
		if maxUses = *in.MaxUses; maxUses < 1 || maxUses > maxCodeUses {
			return 0, 0, nil, models.FieldError("max_uses", "invalid_max_uses", "max_uses must be between 1 and %d", maxCodeUses)
		}
	}
	if in.ExpiresInDays != nil && (*in.ExpiresInDays < 1 || *in.ExpiresInDays > maxCodeDays) {
		return 0, 0, nil, models.FieldError("expires_in_days", "invalid_expires_in_days", "expires_in_days must be between 1 and %d", maxCodeDays)
	}
	return count, maxUses, in.ExpiresInDays, nil
}

// GenerateActivationCodes makes codes for the tenant within its plan's
// monthly quota (calendar month, UTC). The quota is checked and the codes
// written in one transaction with the tenant's subscription row locked, so
// concurrent requests never make more than the quota.
// Errors: invalid_count, invalid_max_uses, invalid_expires_in_days (400),
// subscription_inactive (402), code_quota_exceeded (403).
func (s *Service) GenerateActivationCodes(ctx context.Context, tenantID uuid.UUID, in CodeRequest) (GeneratedCodes, error) {
	count, maxUses, days, err := in.check()
	if err != nil {
		return GeneratedCodes{}, err
	}
	var out GeneratedCodes
	err = s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		sub, err := lockSubscription(tx, tenantID)
		if err != nil {
			return err
		}
		if err := sub.Status.CheckMayRun(); err != nil {
			return err
		}
		var plan models.Plan
		err = tx.Joins("JOIN tenants t ON t.plan_code = plans.code").Where("t.id = ?", tenantID).Take(&plan).Error
		if err != nil {
			return notFound(err, models.ErrUnauthorized)
		}
		quota, err := s.codeQuota(tx, tenantID, plan.MonthlyCodeQuota)
		if err != nil {
			return err
		}
		if count > quota.Remaining {
			return models.Errorf(models.KindForbidden, "code_quota_exceeded",
				"the %s plan makes %d activation codes a month; %d remain until %s, and %d were asked for",
				plan.Name, quota.MonthlyLimit, quota.Remaining, quota.ResetsAt.Format(time.DateOnly), count)
		}
		now := s.Now().Truncate(time.Microsecond) // what Postgres keeps
		var expiresAt *time.Time
		if days != nil {
			t := now.AddDate(0, 0, *days)
			expiresAt = &t
		}
		month, _ := quotaMonth(now)
		rows := make([]models.ActivationCode, count)
		out.Codes = make([]IssuedCode, count)
		for i := range rows {
			code := newActivationCode()
			rows[i] = models.ActivationCode{ID: models.NewID(), TenantID: tenantID, CodeHash: hashCode(code),
				CodeHint: codeHint(code), MaxUses: maxUses, ExpiresAt: expiresAt, Month: month, CreatedAt: now}
			out.Codes[i].Code = code
		}
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			out.Codes[i].ActivationCode = rows[i]
		}
		quota.UsedThisMonth += count
		quota.Remaining -= count
		out.CodeQuota = quota
		return nil
	})
	if err != nil {
		return GeneratedCodes{}, err
	}
	return out, nil
}

// RevokeTenantActivationCode revokes one of the tenant's codes; revoking
// twice is not an error. A project the code is assigned to cannot run again
// until it has another code (models.CodeValid).
// Errors: activation_code_not_found (404, also for another tenant's code).
func (s *Service) RevokeTenantActivationCode(ctx context.Context, tenantID, codeID uuid.UUID) (CodeView, error) {
	var view CodeView
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var c models.ActivationCode
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND tenant_id = ?", codeID, tenantID).Take(&c).Error
		if err != nil {
			return notFound(err, models.ErrCodeNotFound)
		}
		if c.RevokedAt == nil {
			now := s.Now().Truncate(time.Microsecond) // what Postgres keeps
			c.RevokedAt = &now
			if err := tx.Model(&c).Update("revoked_at", now).Error; err != nil {
				return err
			}
		}
		views, err := s.codeViews(tx, tenantID, []models.ActivationCode{c})
		if err != nil {
			return err
		}
		view = views[0]
		return nil
	})
	return view, err
}
