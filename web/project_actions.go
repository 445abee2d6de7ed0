package web

// The project page's actions (assign a code, run, cancel, resume, delete)
// and the run page.

import (
	"context"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// actionRefused shows a refusal of a button on the project page: the page
// again, with the service's message (next to the code picker for an
// assignment, at the top otherwise) and the API's status.
func (p *Portal) actionRefused(c echo.Context, err error) error {
	e, ok := models.AsError(err)
	if !ok {
		return err
	}
	if e.Kind == models.KindNotFound {
		return errPageNotFound
	}
	d, lerr := p.loadProject(c)
	if lerr != nil {
		return lerr
	}
	v := p.view(c, d.Project.Name)
	v.Nav = "projects"
	if c.Path() == "/projects/:id/assign" {
		d.AssignErr = e.Message
	} else {
		v.Flash, v.Error = e.Message, true
	}
	v.Data = d
	return p.renderStatus(c, statusOf(e), "project", v)
}

// assignCode assigns the code picked from the list (code_id) or pasted
// (code).
func (p *Portal) assignCode(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx, tenant := c.Request().Context(), tenantOf(c)
	pasted := strings.TrimSpace(c.FormValue("code"))
	if pasted != "" {
		_, err = p.svc.AssignActivationCode(ctx, tenant, id, pasted)
	} else {
		codeID, perr := uuid.Parse(c.FormValue("code_id"))
		if perr != nil {
			return p.actionRefused(c, models.FieldError("code", "missing_field", "pick one of your codes or paste one"))
		}
		_, err = p.svc.AssignActivationCodeByID(ctx, tenant, id, codeID)
	}
	if err != nil {
		return p.actionRefused(c, err)
	}
	p.flash(c, "Activation code assigned.")
	if pasted != "" {
		p.keep(c, linkCookie, p.clientLink(c, pasted))
	}
	return redirect(c, "/projects/"+id.String())
}

// clientLink is the address a tenant sends its client.
func (p *Portal) clientLink(c echo.Context, code string) string {
	return p.baseURL(c) + "/status/" + url.PathEscape(code)
}

// baseURL is Q2O_PUBLIC_URL, or this request's scheme and host.
func (p *Portal) baseURL(c echo.Context) string {
	if p.cfg.PublicURL != "" {
		return strings.TrimRight(p.cfg.PublicURL, "/")
	}
	scheme := "http"
	if p.secure(c) {
		scheme = "https"
	}
	return scheme + "://" + c.Request().Host
}

// projectAction is a button of the project page that makes one service
// call: a refusal shows the page again with its message; success flashes
// and goes on to next.
func (p *Portal) projectAction(do func(ctx context.Context, tenant, project uuid.UUID) error, flash string, next func(id string) string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		if err := do(c.Request().Context(), tenantOf(c), id); err != nil {
			return p.actionRefused(c, err)
		}
		p.flash(c, flash)
		return redirect(c, next(id.String()))
	}
}

// The project page's buttons. RUN and resume open the run on the status page,
// as the product document asks ("Redirect to Status page on success").
func (p *Portal) deleteProject() echo.HandlerFunc {
	return p.projectAction(p.svc.DeleteProject, "Project deleted.", func(string) string { return "/projects" })
}

func (p *Portal) runProject() echo.HandlerFunc {
	return p.projectAction(func(ctx context.Context, tenant, id uuid.UUID) error {
		_, err := p.svc.StartRun(ctx, tenant, id)
		return err
	}, "Run started.", toStatusPage)
}

func (p *Portal) cancelRun() echo.HandlerFunc {
	return p.projectAction(func(ctx context.Context, tenant, id uuid.UUID) error {
		_, err := p.svc.CancelRun(ctx, tenant, id)
		return err
	}, "Run cancelled.", func(id string) string { return "/projects/" + id })
}

func (p *Portal) resumeRun() echo.HandlerFunc {
	return p.projectAction(func(ctx context.Context, tenant, id uuid.UUID) error {
		_, err := p.svc.ResumeRun(ctx, tenant, id)
		return err
	}, "Run resumed.", toStatusPage)
}

func toStatusPage(id string) string { return "/projects/status?open=" + id }

// runData is the run page: one execution, its events, and where its log
// streams from.
type runData struct {
	Project models.Project
	Run     service.ExecutionDetail
	LogURL  string
	Live    bool
}

func (p *Portal) runPage(c echo.Context) error {
	ctx, tenant := c.Request().Context(), tenantOf(c)
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	runID, err := idParam(c, "run")
	if err != nil {
		return err
	}
	pr, err := p.svc.Project(ctx, tenant, id)
	if err != nil {
		return asPage404(err)
	}
	run, err := p.svc.Execution(ctx, tenant, id, runID)
	if err != nil {
		return asPage404(err)
	}
	d := runData{Project: pr, Run: run, Live: run.Status.Live(),
		LogURL: "/api/tenant/projects/" + id.String() + "/logs?tail=10000&execution_id=" + runID.String()}
	v := p.view(c, "Run of "+pr.Name)
	v.Nav, v.Data = "projects", d
	return p.render(c, "run", v)
}
