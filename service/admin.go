package service

// The operator's reads across tenants: tenants with their plan, subscription
// and counts, one tenant's codes, executions of every tenant, and one
// execution with its events and the tail of its log. Only the admin API and
// `q2o admin` call these; a tenant never sees another's rows.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// Admin list paging.
const (
	DefaultAdminPerPage = 20
	MaxAdminPerPage     = 100
	// MaxAdminLogTail bounds the log lines one execution's detail holds.
	MaxAdminLogTail = 1000
)

// TenantQuery pages through tenants, newest first. Page starts at 1 (0 is
// 1); PerPage is 1 to MaxAdminPerPage (0 is DefaultAdminPerPage). Q, when
// set, keeps the tenants whose name, email or domain holds it, ignoring
// case (as plain text: % and _ match themselves).
type TenantQuery struct {
	Page    int
	PerPage int
	Q       string
}

// TenantSummary is a tenant as an operator sees it: its profile and plan,
// its subscription's status, its projects (deleted ones left out) and its
// runs pending or running now.
type TenantSummary struct {
	models.Tenant
	SubscriptionStatus models.SubscriptionStatus `json:"subscription_status"`
	Projects           int64                     `json:"projects"`
	LiveRuns           int64                     `json:"live_runs"`
}

// tenantSummarySelect reads TenantSummary's columns from tenants t.
const tenantSummarySelect = `t.*, coalesce(s.status, '') AS subscription_status,
	(SELECT count(*) FROM projects p WHERE p.tenant_id = t.id AND p.is_active) AS projects,
	(SELECT count(*) FROM executions e WHERE e.tenant_id = t.id AND e.status IN ('pending', 'running')) AS live_runs`

func (s *Service) tenantSummaries(ctx context.Context) *gorm.DB {
	return s.DB.WithContext(ctx).Table("tenants t").Joins("LEFT JOIN subscriptions s ON s.tenant_id = t.id")
}

// checkPaging applies the admin lists' defaults and bounds.
// Errors: invalid_page, invalid_per_page (400).
func checkPaging(page, perPage *int) error {
	if *page == 0 {
		*page = 1
	}
	if *page < 1 {
		return models.FieldError("page", "invalid_page", "page must be 1 or more")
	}
	if *perPage == 0 {
		*perPage = DefaultAdminPerPage
	}
	if *perPage < 1 || *perPage > MaxAdminPerPage {
		return models.FieldError("per_page", "invalid_per_page", "per_page must be between 1 and %d", MaxAdminPerPage)
	}
	return nil
}

// adminLike makes text match itself in a LIKE pattern (backslash escapes).
var adminLike = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// AdminTenants lists tenants, newest first.
// Errors: invalid_page, invalid_per_page, invalid_query (400).
func (s *Service) AdminTenants(ctx context.Context, q TenantQuery) (Page[TenantSummary], error) {
	if err := checkPaging(&q.Page, &q.PerPage); err != nil {
		return Page[TenantSummary]{}, err
	}
	text := strings.TrimSpace(q.Q)
	if !utf8.ValidString(text) || utf8.RuneCountInString(text) > 200 {
		return Page[TenantSummary]{}, models.FieldError("q", "invalid_query", "q must be UTF-8 text of at most 200 characters")
	}
	where := func(tx *gorm.DB) *gorm.DB {
		if text == "" {
			return tx
		}
		p := "%" + adminLike.Replace(strings.ToLower(text)) + "%"
		return tx.Where("lower(t.name) LIKE ? OR lower(t.email) LIKE ? OR lower(coalesce(t.domain, '')) LIKE ?", p, p, p)
	}
	page := Page[TenantSummary]{Items: []TenantSummary{}, Page: q.Page, PerPage: q.PerPage}
	if err := where(s.tenantSummaries(ctx)).Count(&page.Total).Error; err != nil {
		return page, fmt.Errorf("count tenants: %w", err)
	}
	page.TotalPages = (page.Total + int64(q.PerPage) - 1) / int64(q.PerPage)
	if int64(q.Page) > page.TotalPages {
		return page, nil
	}
	err := where(s.tenantSummaries(ctx)).Select(tenantSummarySelect).Order("t.created_at DESC, t.id DESC").
		Limit(q.PerPage).Offset((q.Page - 1) * q.PerPage).Scan(&page.Items).Error
	if err != nil {
		return page, fmt.Errorf("list tenants: %w", err)
	}
	return page, nil
}

// AdminTenant returns one tenant as AdminTenants lists it.
// Errors: tenant_not_found (404).
func (s *Service) AdminTenant(ctx context.Context, id uuid.UUID) (TenantSummary, error) {
	var rows []TenantSummary
	err := s.tenantSummaries(ctx).Select(tenantSummarySelect).Where("t.id = ?", id).Scan(&rows).Error
	if err != nil {
		return TenantSummary{}, fmt.Errorf("read tenant: %w", err)
	}
	if len(rows) == 0 {
		return TenantSummary{}, models.ErrTenantNotFound
	}
	return rows[0], nil
}

// AdminTenantCodes lists one tenant's activation codes as the tenant's own
// list does (ActivationCodes), for an operator.
// Errors: invalid_page, invalid_per_page, invalid_status (400),
// tenant_not_found (404).
func (s *Service) AdminTenantCodes(ctx context.Context, tenantID uuid.UUID, q CodeListQuery) (CodePage, error) {
	if err := s.tenantExists(ctx, tenantID); err != nil {
		return CodePage{}, err
	}
	return s.ActivationCodes(ctx, tenantID, q)
}

// tenantExists: Errors: tenant_not_found (404).
func (s *Service) tenantExists(ctx context.Context, id uuid.UUID) error {
	var n int64
	if err := s.DB.WithContext(ctx).Model(&models.Tenant{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return models.ErrTenantNotFound
	}
	return nil
}

// ExecutionQuery pages through the executions of every tenant, newest
// first; paging as TenantQuery. Status, TenantID, From and To, when set,
// keep the executions in that status, of that tenant, and created at or
// after From and before To.
type ExecutionQuery struct {
	Page     int
	PerPage  int
	Status   string
	TenantID *uuid.UUID
	From, To *time.Time
}

// AdminExecution is an execution as an operator sees it: whose it is, and
// the worker that holds (or last held) it.
type AdminExecution struct {
	models.Execution
	TenantID    uuid.UUID `json:"tenant_id"`
	TenantName  string    `json:"tenant_name"`
	ProjectName string    `json:"project_name"`
	WorkerID    *string   `json:"worker_id"`
}

// AdminExecutions lists executions across tenants, newest first.
// Errors: invalid_page, invalid_per_page, invalid_status, invalid_range
// (400).
func (s *Service) AdminExecutions(ctx context.Context, q ExecutionQuery) (Page[AdminExecution], error) {
	if err := checkPaging(&q.Page, &q.PerPage); err != nil {
		return Page[AdminExecution]{}, err
	}
	statuses := ExecutionStatuses()
	if q.Status != "" && !slices.Contains(statuses, models.ExecutionStatus(q.Status)) {
		names := make([]string, len(statuses))
		for i, st := range statuses {
			names[i] = string(st)
		}
		return Page[AdminExecution]{}, models.FieldError("status", "invalid_status", "status must be one of %s", strings.Join(names, ", "))
	}
	if q.From != nil && q.To != nil && !q.From.Before(*q.To) {
		return Page[AdminExecution]{}, models.FieldError("to", "invalid_range", "to must be later than from")
	}
	where := func() *gorm.DB {
		tx := s.DB.WithContext(ctx).Model(&models.Execution{})
		if q.Status != "" {
			tx = tx.Where("status = ?", q.Status)
		}
		if q.TenantID != nil {
			tx = tx.Where("tenant_id = ?", *q.TenantID)
		}
		if q.From != nil {
			tx = tx.Where("created_at >= ?", *q.From)
		}
		if q.To != nil {
			tx = tx.Where("created_at < ?", *q.To)
		}
		return tx
	}
	page := Page[AdminExecution]{Items: []AdminExecution{}, Page: q.Page, PerPage: q.PerPage}
	if err := where().Count(&page.Total).Error; err != nil {
		return page, fmt.Errorf("count executions: %w", err)
	}
	page.TotalPages = (page.Total + int64(q.PerPage) - 1) / int64(q.PerPage)
	if int64(q.Page) > page.TotalPages {
		return page, nil
	}
	var rows []models.Execution
	if err := where().Order("created_at DESC, id DESC").Limit(q.PerPage).Offset((q.Page - 1) * q.PerPage).
		Find(&rows).Error; err != nil {
		return page, fmt.Errorf("list executions: %w", err)
	}
	items, err := s.adminExecutions(ctx, rows)
	page.Items = items
	return page, err
}

// adminExecutions adds the tenant's and the project's names to rows.
func (s *Service) adminExecutions(ctx context.Context, rows []models.Execution) ([]AdminExecution, error) {
	out := make([]AdminExecution, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var names []struct {
		ID                      uuid.UUID
		TenantName, ProjectName string
	}
	err := s.DB.WithContext(ctx).Table("executions e").Select("e.id, t.name AS tenant_name, p.name AS project_name").
		Joins("JOIN tenants t ON t.id = e.tenant_id").Joins("JOIN projects p ON p.id = e.project_id").
		Where("e.id IN ?", ids).Scan(&names).Error
	if err != nil {
		return nil, fmt.Errorf("read names: %w", err)
	}
	byID := make(map[uuid.UUID]int, len(names))
	for i := range names {
		byID[names[i].ID] = i
	}
	for i, e := range rows {
		out[i] = AdminExecution{Execution: e, TenantID: e.TenantID, WorkerID: e.WorkerID}
		if j, ok := byID[e.ID]; ok {
			out[i].TenantName, out[i].ProjectName = names[j].TenantName, names[j].ProjectName
		}
	}
	return out, nil
}

// AdminExecutionDetail is one execution with its events in order and the
// last lines of its log (empty when it has none, or it was not kept).
type AdminExecutionDetail struct {
	AdminExecution
	Events  []models.ExecutionEvent `json:"events"`
	LogTail []string                `json:"log_tail"`
}

// AdminExecution returns any tenant's execution with its events and the
// last tail lines of its log (0 to MaxAdminLogTail).
// Errors: invalid_tail (400), execution_not_found (404).
func (s *Service) AdminExecution(ctx context.Context, id uuid.UUID, tail int) (AdminExecutionDetail, error) {
	var d AdminExecutionDetail
	if tail < 0 || tail > MaxAdminLogTail {
		return d, models.FieldError("tail", "invalid_tail", "tail must be a whole number from 0 to %d", MaxAdminLogTail)
	}
	var e models.Execution
	err := s.DB.WithContext(ctx).Where("id = ?", id).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return d, models.ErrExecutionNotFound
	}
	if err != nil {
		return d, fmt.Errorf("read execution: %w", err)
	}
	views, err := s.adminExecutions(ctx, []models.Execution{e})
	if err != nil {
		return d, err
	}
	d.AdminExecution = views[0]
	if err := s.DB.WithContext(ctx).Where("execution_id = ?", id).Order("id").Find(&d.Events).Error; err != nil {
		return d, fmt.Errorf("read events: %w", err)
	}
	d.LogTail, err = s.logTail(ctx, e, tail)
	return d, err
}

// logTail reads the last n lines of the execution's log; none when it has
// no log (never ran, or an older run's log was not kept). A live run's come
// from its log stream (RunLog's LiveTail, as the tenant's log tail): with
// s3, run.log is only in the worker's scratch, maybe on another host. The
// stored log serves the rest: an ended run, or the stream out of reach.
func (s *Service) logTail(ctx context.Context, e models.Execution, n int) ([]string, error) {
	lines := []string{}
	if n == 0 {
		return lines, nil
	}
	l, err := s.RunLog(ctx, e.TenantID, e.ProjectID, LogQuery{ExecutionID: e.ID.String()})
	if models.ErrorCode(err) == "log_not_found" {
		return lines, nil
	}
	if err != nil {
		return nil, err
	}
	l.Tail = n
	switch body, ok, err := l.LiveTail(ctx); {
	case err != nil:
		s.Log.Warn("admin log tail: read the live stream", "execution_id", e.ID, "error", err)
	case ok:
		return splitLines(body), nil
	}
	f, err := l.Open(ctx)
	if models.ErrorCode(err) == "log_not_found" || (err == nil && f == nil) {
		return lines, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("stat log: %w", err)
	}
	start, err := TailStart(f, size, n)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.NewSectionReader(f, start, size-start))
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return splitLines(b), nil
}

// splitLines is a log's text as lines (valid UTF-8, no line ends).
func splitLines(b []byte) []string {
	text := strings.TrimSuffix(strings.ToValidUTF8(string(b), "\uFFFD"), "\n")
	if text == "" {
		return []string{}
	}
	return strings.Split(text, "\n")
}
