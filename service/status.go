package service

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// PerPage is the size of a page of the tenant's lists by default (the
// product document's 10); a project list may ask for up to MaxPerPage.
const (
	PerPage    = 10
	MaxPerPage = 50
)

// maxPage bounds page: deeper than ten million rows an OFFSET stops being a
// sensible way to browse.
const maxPage = 1_000_000

// maxQueryLen is the longest search text, in characters.
const maxQueryLen = 200

// executionStatuses are the values the status filter takes.
var executionStatuses = models.ExecutionStatuses

// ProjectQuery is what a tenant asks of a project list, as the query string
// gave it; the service checks it.
type ProjectQuery struct {
	// Page is the page number, from 1; empty means 1.
	Page string
	// Q is searched for in name, description and objectives: as plain text
	// (no wildcards; %, _ and \ match themselves), ignoring case. Empty
	// means no search.
	Q string
	// Status keeps only projects whose execution_status is this; empty
	// means any.
	Status string
	// PerPage is the page size, 1 to MaxPerPage; empty means PerPage.
	PerPage string
}

// projectFilter is a checked ProjectQuery.
type projectFilter struct {
	page    int
	perPage int
	pattern string // a LIKE pattern, q escaped and between %s, or ""
	status  models.ExecutionStatus
}

// parse checks q.
// Errors: invalid_page, invalid_query, invalid_status (400).
func (q ProjectQuery) parse() (projectFilter, error) {
	var f projectFilter
	var err error
	if f.page, err = parsePage(q.Page); err != nil {
		return f, err
	}
	f.perPage = PerPage
	if q.PerPage != "" {
		n, err := strconv.Atoi(q.PerPage)
		if err != nil || n < 1 || n > MaxPerPage {
			return f, models.FieldError("per_page", "invalid_per_page", "per_page must be a whole number from 1 to %d", MaxPerPage)
		}
		f.perPage = n
	}
	if text := strings.TrimSpace(q.Q); text != "" {
		if !utf8.ValidString(text) || strings.IndexFunc(text, unicode.IsControl) >= 0 {
			return f, models.FieldError("q", "invalid_query", "q must be UTF-8 text without control characters")
		}
		if utf8.RuneCountInString(text) > maxQueryLen {
			return f, models.FieldError("q", "invalid_query", "q must be at most %d characters", maxQueryLen)
		}
		f.pattern = "%" + likeEscaper.Replace(text) + "%"
	}
	if q.Status != "" {
		f.status = models.ExecutionStatus(q.Status)
		if !validStatus(f.status) {
			return f, models.FieldError("status", "invalid_status", "status must be one of %s", statusList())
		}
	}
	return f, nil
}

// likeEscaper makes text match itself in a LIKE pattern whose escape
// character is a backslash.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func validStatus(s models.ExecutionStatus) bool {
	for _, k := range executionStatuses {
		if s == k {
			return true
		}
	}
	return false
}

// ExecutionStatuses are the values a project list's status filter takes,
// in the order a page offers them.
func ExecutionStatuses() []models.ExecutionStatus {
	return append([]models.ExecutionStatus(nil), executionStatuses...)
}

func statusList() string {
	names := make([]string, len(executionStatuses))
	for i, s := range executionStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// parsePage reads a page number; empty is the first page.
// Errors: invalid_page (400).
func parsePage(s string) (int, error) {
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPage {
		return 0, models.FieldError("page", "invalid_page", "page must be a whole number from 1 to %d", maxPage)
	}
	return n, nil
}

// Page is one page of a list, and where it sits in the whole.
type Page[T any] struct {
	Items      []T   `json:"items"`
	Page       int   `json:"page"`
	PerPage    int   `json:"per_page"`
	Total      int64 `json:"total"`
	TotalPages int64 `json:"total_pages"`
}

func newPage[T any](items []T, page, perPage int, total int64) Page[T] {
	if items == nil {
		items = []T{}
	}
	n := int64(perPage)
	return Page[T]{Items: items, Page: page, PerPage: perPage, Total: total, TotalPages: (total + n - 1) / n}
}

// LatestExecution sums up a project's latest run in a list.
type LatestExecution struct {
	ID         uuid.UUID              `json:"id"`
	Status     models.ExecutionStatus `json:"status"`
	Attempt    int                    `json:"attempt"`
	QueuedAt   time.Time              `json:"queued_at"`
	StartedAt  *time.Time             `json:"started_at"`
	FinishedAt *time.Time             `json:"finished_at"`
	ExitCode   *int                   `json:"exit_code"`
	Error      *string                `json:"error"`
}

// ProjectStatus is one project in a list: its fields (progress included)
// and its latest execution, null when it never ran.
type ProjectStatus struct {
	models.Project
	LatestExecution *LatestExecution `json:"latest_execution"`
}

// projectRow is what the list query returns per project.
type projectRow struct {
	models.Project
	LeID         *uuid.UUID
	LeStatus     *models.ExecutionStatus
	LeAttempt    *int
	LeQueuedAt   *time.Time
	LeStartedAt  *time.Time
	LeFinishedAt *time.Time
	LeExitCode   *int
	LeError      *string
}

// StatusPage is the tenant's status page: its active projects, newest
// activity first (updated_at, then id, descending), PerPage at a time, each
// with its progress and latest execution. q.Q searches name, description
// and objectives as literal text, ignoring case; q.Status keeps one
// execution status. A page past the end is empty, not an error.
// Errors: invalid_page, invalid_query, invalid_status (400).
func (s *Service) StatusPage(ctx context.Context, tenantID uuid.UUID, q ProjectQuery) (Page[ProjectStatus], error) {
	return s.listProjects(ctx, tenantID, q, true)
}

// Projects lists every project of the tenant, deleted (inactive) ones too,
// in the order and with the filters of StatusPage.
// Errors: invalid_page, invalid_query, invalid_status (400).
func (s *Service) Projects(ctx context.Context, tenantID uuid.UUID, q ProjectQuery) (Page[ProjectStatus], error) {
	return s.listProjects(ctx, tenantID, q, false)
}

// projectList is the SQL of one page of a project list and of its count,
// with their bind parameters (user input is only ever a parameter).
type projectList struct {
	count, page    string
	args, pageArgs []any
}

func projectListSQL(tenantID uuid.UUID, f projectFilter, activeOnly bool) projectList {
	where, args := "tenant_id = ?", []any{tenantID}
	if activeOnly {
		where += " AND is_active"
	}
	if f.status != "" {
		where += " AND execution_status = ?"
		args = append(args, f.status)
	}
	if f.pattern != "" {
		// search_text is name, description and objectives, lower-cased and
		// joined by U+001F, a character q may not hold, so that a match
		// never spans two fields (migration 00002, with its trigram index).
		where += ` AND search_text LIKE lower(?) ESCAPE '\'`
		args = append(args, f.pattern)
	}
	return projectList{
		count: "SELECT count(*) FROM projects WHERE " + where,
		page: `SELECT p.*, e.id AS le_id, e.status AS le_status, e.attempt AS le_attempt,
			e.queued_at AS le_queued_at, e.started_at AS le_started_at, e.finished_at AS le_finished_at,
			e.exit_code AS le_exit_code, e.error AS le_error
			FROM (SELECT id FROM projects WHERE ` + where + `
			      ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?) page
			JOIN projects p ON p.id = page.id
			LEFT JOIN executions e ON e.id = p.latest_execution_id
			ORDER BY p.updated_at DESC, p.id DESC`,
		args:     args,
		pageArgs: append(args[:len(args):len(args)], f.perPage, (f.page-1)*f.perPage),
	}
}

// listProjects runs two queries whatever the page (one when the page is
// past the end): a count, and the page itself. The page picks its ids first from an index that holds the list's
// order, (tenant_id, updated_at DESC, id DESC), and only then reads those
// rows and their latest execution, so a deep page walks index entries, not
// rows.
func (s *Service) listProjects(ctx context.Context, tenantID uuid.UUID, q ProjectQuery, activeOnly bool) (Page[ProjectStatus], error) {
	f, err := q.parse()
	if err != nil {
		return Page[ProjectStatus]{}, err
	}
	l := projectListSQL(tenantID, f, activeOnly)
	var total int64
	var rows []projectRow
	// One snapshot for the count and the page. Custom plans only: pgx
	// prepares and caches statements, and after a few runs Postgres may
	// switch to a generic plan, which cannot see the search pattern and so
	// may pick the trigram index for a q too short to use it (a scan of the
	// whole index, seconds instead of milliseconds).
	err = s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
			return err
		}
		if err := tx.Raw(l.count, l.args...).Scan(&total).Error; err != nil {
			return fmt.Errorf("count projects: %w", err)
		}
		if int64(f.page-1)*int64(f.perPage) >= total {
			return nil
		}
		if err := tx.Raw(l.page, l.pageArgs...).Scan(&rows).Error; err != nil {
			return fmt.Errorf("list projects: %w", err)
		}
		return nil
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return Page[ProjectStatus]{}, err
	}
	items := make([]ProjectStatus, len(rows))
	for i, r := range rows {
		items[i].Project = r.Project
		if r.LeID != nil {
			items[i].LatestExecution = &LatestExecution{ID: *r.LeID, Status: *r.LeStatus, Attempt: *r.LeAttempt,
				QueuedAt: *r.LeQueuedAt, StartedAt: r.LeStartedAt, FinishedAt: r.LeFinishedAt,
				ExitCode: r.LeExitCode, Error: r.LeError}
		}
	}
	return newPage(items, f.page, f.perPage, total), nil
}

// ProjectExecutions lists the runs of one of the tenant's projects, newest
// first, PerPage at a time. page is as in ProjectQuery.Page.
// Errors: invalid_page (400), project_not_found (404, also for another
// tenant's project).
func (s *Service) ProjectExecutions(ctx context.Context, tenantID, projectID uuid.UUID, page string) (Page[ExecutionView], error) {
	n, err := parsePage(page)
	if err != nil {
		return Page[ExecutionView]{}, err
	}
	if _, err := s.Project(ctx, tenantID, projectID); err != nil {
		return Page[ExecutionView]{}, err
	}
	gdb := s.DB.WithContext(ctx).Model(&models.Execution{}).Where("project_id = ? AND tenant_id = ?", projectID, tenantID)
	var total int64
	if err := gdb.Count(&total).Error; err != nil {
		return Page[ExecutionView]{}, fmt.Errorf("count executions: %w", err)
	}
	var items []models.Execution
	if int64(n-1)*PerPage < total {
		err := s.DB.WithContext(ctx).Where("project_id = ? AND tenant_id = ?", projectID, tenantID).
			Order("created_at DESC, id DESC").Limit(PerPage).Offset((n - 1) * PerPage).Find(&items).Error
		if err != nil {
			return Page[ExecutionView]{}, fmt.Errorf("list executions: %w", err)
		}
	}
	views := make([]ExecutionView, len(items))
	for i, e := range items {
		views[i] = executionView(e)
	}
	return newPage(views, n, PerPage, total), nil
}
