package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func (p *Portal) projectRoutes(g router) {
	s := p.requireSession
	g.GET("/projects", p.projectList, s)
	g.GET("/projects/new", p.newProject, s)
	g.POST("/projects", p.createProject, s)
	g.GET("/projects/status", p.statusPage, s)
	g.GET("/projects/:id", p.projectPage, s)
	g.GET("/projects/:id/edit", p.editProject, s)
	g.POST("/projects/:id/edit", p.updateProject, s)
	g.POST("/projects/:id/delete", p.deleteProject(), s)
	g.POST("/projects/:id/assign", p.assignCode, s)
	g.POST("/projects/:id/run", p.runProject(), s)
	g.POST("/projects/:id/cancel", p.cancelRun(), s)
	g.POST("/projects/:id/resume", p.resumeRun(), s)
	g.GET("/projects/:id/runs/:run", p.runPage, s)
}

// errPageNotFound is every page of a project that is not the tenant's (or
// does not exist): the same 404 page, which tells nothing.
var errPageNotFound = models.Errorf(models.KindNotFound, "not_found", "page not found")

// idParam reads a uuid path parameter; a malformed one is a 404 page.
func idParam(c echo.Context, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil {
		return uuid.Nil, errPageNotFound
	}
	return id, nil
}

// asPage404 makes "not found" refusals the one 404 page.
func asPage404(err error) error {
	if e, ok := models.AsError(err); ok && e.Kind == models.KindNotFound {
		return errPageNotFound
	}
	return err
}

// listData is a project list page: the page of projects, its filters, and
// the statuses the filter offers.
type listData struct {
	Page     service.Page[service.ProjectStatus]
	Q        string
	Status   string
	Statuses []models.ExecutionStatus
	Open     string
	Error    string
	// EventsURL is where the page follows live changes from, starting after
	// the last event before the page was read (see eventsURL).
	EventsURL string
}

// listPage runs one of the service's project lists for a page.
func (p *Portal) listPage(c echo.Context, list func(context.Context, uuid.UUID, service.ProjectQuery) (service.Page[service.ProjectStatus], error)) (listData, error) {
	ctx, tenant := c.Request().Context(), tenantOf(c)
	d := listData{Q: c.QueryParam("q"), Status: c.QueryParam("status"), Statuses: service.ExecutionStatuses(), Open: c.QueryParam("open")}
	d.EventsURL = p.eventsURL(ctx, tenant)
	page, err := list(ctx, tenant, service.ProjectQuery{Page: c.QueryParam("page"), Q: d.Q, Status: d.Status})
	if err != nil {
		e, ok := models.AsError(err)
		if !ok {
			return d, err
		}
		d.Error = e.Message
		page, err = list(ctx, tenant, service.ProjectQuery{})
		if err != nil {
			return d, err
		}
	}
	d.Page = page
	return d, nil
}

// eventsURL is the tenant's event stream, from just before the page's data
// was read: an event that lands between the read and the stream's start is
// replayed, so the page misses no change. The browser's own reconnects then
// send Last-Event-ID, which wins over the query.
func (p *Portal) eventsURL(ctx context.Context, tenant uuid.UUID) string {
	const stream = "/api/tenant/events"
	if head, ok := p.streamHead(ctx, tenant); ok {
		return stream + "?last_event_id=" + url.QueryEscape(head)
	}
	return stream
}

// streamHead is the id of the last event in the tenant's stream (see
// events.Broker.Head); false when live events are off or Redis is out of
// reach, and the page then follows from whenever its stream starts.
func (p *Portal) streamHead(ctx context.Context, tenant uuid.UUID) (string, bool) {
	h, ok := p.svc.Events.(interface {
		Head(ctx context.Context, tenantID uuid.UUID) (string, error)
	})
	if !ok {
		return "", false
	}
	id, err := h.Head(ctx, tenant)
	if err != nil {
		p.log.Warn("live events: cannot read the stream head", "error", err)
		return "", false
	}
	return id, true
}

// projectList: every active project, searchable, with a status filter.
func (p *Portal) projectList(c echo.Context) error {
	d, err := p.listPage(c, p.svc.StatusPage)
	if err != nil {
		return err
	}
	v := p.view(c, "Projects")
	v.Nav, v.Data = "projects", d
	return p.render(c, "projects", v)
}

// statusPage: the active projects with their live progress, 10 a page.
func (p *Portal) statusPage(c echo.Context) error {
	d, err := p.listPage(c, p.svc.StatusPage)
	if err != nil {
		return err
	}
	v := p.view(c, "Status")
	v.Nav, v.Data = "status", d
	return p.render(c, "status", v)
}

// projectForm is the new and edit forms' data.
type projectForm struct {
	// Editing is true for the edit form of project ID.
	Editing     bool
	ID          uuid.UUID
	Name        string
	Description string
	Objectives  string
	// Error is a refusal of the whole form; FieldErrors one per field.
	Error       string
	FieldErrors map[string]string
}

// formRefused shows the form again with the refusal next to its field (or
// above the form) and the API's status; an error that is not a refusal is
// returned as it is.
func (p *Portal) formRefused(c echo.Context, f projectForm, title string, err error) error {
	e, ok := models.AsError(err)
	if !ok {
		return err
	}
	if e.Field != "" {
		f.FieldErrors = map[string]string{e.Field: e.Message}
	} else {
		f.Error = e.Message
	}
	v := p.view(c, title)
	v.Nav, v.Data = "projects", f
	return p.renderStatus(c, statusOf(e), "project_form", v)
}

func (p *Portal) newProject(c echo.Context) error {
	v := p.view(c, "New project")
	v.Nav, v.Data = "projects", projectForm{}
	return p.render(c, "project_form", v)
}

func formText(c echo.Context, name string) *string {
	v := c.FormValue(name)
	return &v
}

func (p *Portal) createProject(c echo.Context) error {
	in := service.NewProject{Name: formText(c, "name"), Description: formText(c, "description"), Objectives: formText(c, "objectives")}
	pr, err := p.svc.CreateProject(c.Request().Context(), tenantOf(c), in)
	if err != nil {
		return p.formRefused(c, projectForm{Name: *in.Name, Description: *in.Description, Objectives: *in.Objectives}, "New project", err)
	}
	p.flash(c, "Project created. Assign an activation code, then run it.")
	return redirect(c, "/projects/"+pr.ID.String())
}

// projectData is the project page.
type projectData struct {
	Project service.ProjectStatus
	// RunBlocked is why RUN would be refused now (the service's own
	// check), nil when it would be accepted.
	RunBlocked *models.Error
	Live       bool
	// Codes are the tenant's available codes, for the picker.
	Codes []service.CodeView
	// Code is the project's assigned code, if any.
	Code     *service.CodeView
	Runs     service.Page[service.ExecutionView]
	Download *models.Execution
	// EventsURL: see eventsURL.
	EventsURL  string
	AssignErr  string
	ClientLink string
	// RunLimit is how many of the tenant's runs go at once
	// (models.RunLimit).
	RunLimit int
}

func (p *Portal) loadProject(c echo.Context) (projectData, error) {
	ctx, tenant := c.Request().Context(), tenantOf(c)
	id, err := idParam(c, "id")
	if err != nil {
		return projectData{}, err
	}
	var d projectData
	d.EventsURL = p.eventsURL(ctx, tenant)
	pr, err := p.svc.Project(ctx, tenant, id)
	if err != nil {
		return d, asPage404(err)
	}
	if !pr.IsActive {
		return d, errPageNotFound
	}
	d.Project = service.ProjectStatus{Project: pr}
	prof := profileOf(c)
	d.RunLimit = models.RunLimit(prof.Subscription.Status, prof.Plan.MaxConcurrentRuns)
	d.Live = pr.ExecutionStatus != nil && pr.ExecutionStatus.Live()
	if err := p.svc.CheckRun(ctx, tenant, id); err != nil {
		e, ok := models.AsError(err)
		if !ok {
			return d, err
		}
		d.RunBlocked = e
	}
	if pr.ActivationCodeID == nil {
		if d.Codes, err = p.svc.AvailableCodes(ctx, tenant); err != nil {
			return d, err
		}
	} else if d.Code, err = p.projectCode(ctx, tenant, *pr.ActivationCodeID); err != nil {
		return d, err
	}
	if d.Runs, err = p.svc.ProjectExecutions(ctx, tenant, id, c.QueryParam("runs_page")); err != nil {
		if _, ok := models.AsError(err); !ok {
			return d, err
		}
		if d.Runs, err = p.svc.ProjectExecutions(ctx, tenant, id, ""); err != nil {
			return d, err
		}
	}
	if d.Download, err = p.svc.LatestCompletedExecution(ctx, tenant, id); err != nil {
		return d, err
	}
	return d, nil
}

// projectCode finds the project's code among the tenant's, for its hint
// and state.
func (p *Portal) projectCode(ctx context.Context, tenant, codeID uuid.UUID) (*service.CodeView, error) {
	for page := 1; ; page++ {
		cp, err := p.svc.ActivationCodes(ctx, tenant, service.CodeListQuery{Page: page, PerPage: 100, Status: "assigned"})
		if err != nil {
			return nil, err
		}
		for i := range cp.Items {
			if cp.Items[i].ID == codeID {
				return &cp.Items[i], nil
			}
		}
		if int64(page) >= cp.TotalPages {
			return nil, nil
		}
	}
}

func (p *Portal) projectPage(c echo.Context) error {
	d, err := p.loadProject(c)
	if err != nil {
		return err
	}
	d.ClientLink = p.take(c, linkCookie)
	return p.renderProject(c, http.StatusOK, d)
}

func (p *Portal) renderProject(c echo.Context, status int, d projectData) error {
	v := p.view(c, d.Project.Name)
	v.Nav, v.Data = "projects", d
	return p.renderStatus(c, status, "project", v)
}

func (p *Portal) editProject(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	pr, err := p.svc.Project(c.Request().Context(), tenantOf(c), id)
	if err != nil || !pr.IsActive {
		return errPageNotFound
	}
	v := p.view(c, "Edit "+pr.Name)
	v.Nav = "projects"
	v.Data = projectForm{Editing: true, ID: pr.ID, Name: pr.Name, Description: pr.Description, Objectives: pr.Objectives}
	return p.render(c, "project_form", v)
}

func (p *Portal) updateProject(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if pr, err := p.svc.Project(c.Request().Context(), tenantOf(c), id); err != nil || !pr.IsActive {
		return errPageNotFound
	}
	in := service.ProjectChanges{Name: formText(c, "name"), Description: formText(c, "description"), Objectives: formText(c, "objectives")}
	if _, err := p.svc.UpdateProject(c.Request().Context(), tenantOf(c), id, in); err != nil {
		if err := asPage404(err); err == errPageNotFound {
			return err
		}
		return p.formRefused(c, projectForm{Editing: true, ID: id, Name: *in.Name, Description: *in.Description, Objectives: *in.Objectives}, "Edit project", err)
	}
	p.flash(c, "Changes saved.")
	return redirect(c, "/projects/"+id.String())
}
