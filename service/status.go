package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/artifacts"
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
var executionStatuses = []models.ExecutionStatus{models.StatusPending, models.StatusRunning,
	models.StatusCompleted, models.StatusFailed, models.StatusPaused, models.StatusCancelled}

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

// RunLogName is the file in a project's output folder that holds main.py's
// stdout and stderr for the current run.
const RunLogName = "run.log"

// RunLogHeader is the line the worker writes into run.log when an attempt
// starts (run.log is emptied when an execution's first attempt starts). The
// logs API reads it back to tell whose output run.log holds.
func RunLogHeader(execID uuid.UUID, attempt int, at time.Time) string {
	return fmt.Sprintf("%s%s, attempt %d, started %s ===\n", runLogHeaderStart, execID, attempt, at.UTC().Format(time.RFC3339))
}

const runLogHeaderStart = "=== q2o execution "

// Limits of the logs API's tail.
const (
	DefaultLogTail = 100
	MaxLogTail     = 10000
)

// ErrLogNotFound answers a request for a log that does not exist (or is not
// a plain file).
var ErrLogNotFound = models.Errorf(models.KindNotFound, "log_not_found", "no log for this execution")

// LogQuery is what a tenant asks of a run log, as the query string gave it.
type LogQuery struct {
	// Tail is how many of the last lines to give: 0 to MaxLogTail; empty
	// means DefaultLogTail.
	Tail string
	// ExecutionID picks an execution of the project; empty means the
	// project's latest.
	ExecutionID string
}

// RunLog says which file holds one execution's output.
//
// While an execution runs, and until it ends, its output is the project's
// run.log. When the run ends (completed, failed or paused) the worker copies
// run.log to OUTPUT_ROOT/_artifacts/<project_id>/<execution_id>.log and
// records that path as the execution's log_path, so the log of every ended
// run stays readable after the next run empties run.log. Final is then true:
// the file will not change.
type RunLog struct {
	ProjectID   uuid.UUID
	ExecutionID uuid.UUID
	Status      models.ExecutionStatus
	Tail        int
	Path        string
	Final       bool
}

// RunLog finds the log of one of the tenant's executions: q.ExecutionID, or
// the project's latest.
// Errors: invalid_tail (400), project_not_found, execution_not_found (404,
// also for another tenant's or project's, or a malformed id), log_not_found
// (404: the project never ran, or an older run's log was not kept).
func (s *Service) RunLog(ctx context.Context, tenantID, projectID uuid.UUID, q LogQuery) (RunLog, error) {
	l := RunLog{ProjectID: projectID, Tail: DefaultLogTail}
	if q.Tail != "" {
		n, err := strconv.Atoi(q.Tail)
		if err != nil || n < 0 || n > MaxLogTail {
			return l, models.FieldError("tail", "invalid_tail", "tail must be a whole number from 0 to %d", MaxLogTail)
		}
		l.Tail = n
	}
	p, err := s.Project(ctx, tenantID, projectID)
	if err != nil {
		return l, err
	}
	if q.ExecutionID == "" {
		if p.LatestExecutionID == nil {
			return l, models.Errorf(models.KindNotFound, "log_not_found", "the project has not run yet")
		}
		l.ExecutionID = *p.LatestExecutionID
	} else {
		id, err := uuid.Parse(q.ExecutionID)
		if err != nil || id.String() != strings.ToLower(q.ExecutionID) {
			return l, models.ErrExecutionNotFound
		}
		l.ExecutionID = id
	}
	var e models.Execution
	err = s.DB.WithContext(ctx).Where("id = ? AND project_id = ? AND tenant_id = ?", l.ExecutionID, projectID, tenantID).Take(&e).Error
	if err != nil {
		return l, notFound(err, models.ErrExecutionNotFound)
	}
	l.Status = e.Status
	runLog := filepath.Join(e.OutputDir, RunLogName)
	switch {
	case e.LogPath != nil && *e.LogPath != runLog:
		l.Path, l.Final = *e.LogPath, true
	case p.LatestExecutionID != nil && *p.LatestExecutionID == e.ID:
		l.Path = runLog
	default:
		return l, models.Errorf(models.KindNotFound, "log_not_found", "the log of this execution was not kept")
	}
	return l, nil
}

// Open opens the log for reading. It returns a nil file and no error when
// the execution has no output yet: run.log is missing, or still holds an
// earlier execution's output (a new run empties it only when it starts).
// The file must be a regular file with one link: main.py writes in the
// folder of run.log and could leave a symlink, a fifo or a hard link to
// another file in its place.
// Errors: log_not_found (404) for a kept log that is gone or for anything
// but a plain file.
func (l RunLog) Open() (*os.File, error) {
	f, err := openPlainFile(l.Path)
	if errors.Is(err, fs.ErrNotExist) && !l.Final {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !l.Final {
		want := runLogHeaderStart + l.ExecutionID.String() + ","
		head := make([]byte, len(want))
		if n, _ := f.ReadAt(head, 0); n < len(head) || string(head) != want {
			_ = f.Close()
			return nil, nil
		}
	}
	return f, nil
}

// openPlainFile opens path for reading if it is a regular file with one
// link, never through a symlink and without blocking on a fifo.
// Errors: log_not_found (404) for anything else, fs.ErrNotExist (wrapped)
// for a missing file.
func openPlainFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case errors.Is(err, syscall.ELOOP):
		return nil, ErrLogNotFound
	case err != nil:
		return nil, fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat log: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || !ok || st.Nlink != 1 {
		_ = f.Close()
		return nil, ErrLogNotFound
	}
	return f, nil
}

// TailStart returns where the last n lines of the first size bytes of f
// begin. It reads backwards in blocks, so its memory does not depend on the
// file's size. A newline at the very end closes the last line; it does not
// start another.
func TailStart(f io.ReaderAt, size int64, n int) (int64, error) {
	if n <= 0 {
		return size, nil
	}
	const block = 64 << 10
	buf := make([]byte, block)
	lines := 0
	for end := size; end > 0; {
		start := max(0, end-block)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read log: %w", err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' || start+int64(i) == size-1 {
				continue
			}
			if lines++; lines == n {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// KeptLogPath is where the log of an ended execution is kept:
// root/_artifacts/<project_id>/<execution_id>.log, beside its zip.
func KeptLogPath(root string, projectID, execID uuid.UUID) string {
	return filepath.Join(root, artifacts.ArtifactsDir, projectID.String(), execID.String()+".log")
}

// KeepRunLog copies an execution's run.log to KeptLogPath (through a
// temporary file and a rename, so a reader never sees half a copy) and
// returns that path. The worker calls it when a run ends, before recording
// the end, and records the path as the execution's log_path.
func (s *Service) KeepRunLog(e models.Execution) (string, error) {
	src, err := openPlainFile(filepath.Join(e.OutputDir, RunLogName))
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst := KeptLogPath(s.OutputRoot, e.ProjectID, e.ID)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".log-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = io.Copy(tmp, src)
	if cErr := tmp.Close(); err == nil {
		err = cErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", fmt.Errorf("keep run.log: %w", err)
	}
	return dst, nil
}

// RecordRunLog records where an attempt's kept log is, for a run that ended
// without FinishExecution (paused).
func (s *Service) RecordRunLog(ctx context.Context, execID uuid.UUID, attempt int, path string) error {
	return s.DB.WithContext(ctx).Model(&models.Execution{}).Where("id = ? AND attempt = ?", execID, attempt).
		Updates(map[string]any{"log_path": path, "updated_at": s.Now()}).Error
}
