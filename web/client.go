package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// The client dashboard. A client holds only an activation code: /status/CODE
// (the link its tenant sends) or the form at /status trades it for a
// client session — an HttpOnly cookie for that one project — and redirects
// to /status/projects/ID, so the code leaves the address bar (and the
// browser history) at once. Every code that opens nothing gets the same
// page, under the API's per-IP limit.

func (p *Portal) clientRoutes(g router) {
	g.GET("/status", p.clientForm)
	g.POST("/status", p.clientOpen)
	g.POST("/status/forget", p.clientForget)
	g.GET("/status/projects/:id", p.clientProject)
	g.GET("/status/:code", p.clientLinkOpen)
}

// RedactPathKey marks a request whose path holds a secret (an activation
// code): the access log writes its route instead of its path.
const RedactPathKey = "log.redact_path"

type clientFormData struct {
	Code  string
	Error string
}

func (p *Portal) clientView(c echo.Context, title string) view {
	v := p.view(c, title)
	v.Client, v.Tenant = true, ""
	return v
}

func (p *Portal) clientForm(c echo.Context) error {
	return p.render(c, "client_code", p.clientFormView(c, clientFormData{}))
}

func (p *Portal) clientFormView(c echo.Context, d clientFormData) view {
	v := p.clientView(c, "Follow your project")
	v.Data = d
	return v
}

// errNoProject is the one answer to a code that opens nothing.
const errNoProject = "No project was found for this code. Check it with the company that gave it to you."

// openWithCode starts a client session for code and redirects to its
// project, or shows the form again with the one refusal.
func (p *Portal) openWithCode(c echo.Context, code string) error {
	ctx := c.Request().Context()
	if err := p.cfg.Limiter.Allow(ctx, ratelimit.Activate, c.RealIP()); err != nil {
		return p.clientRefused(c, err)
	}
	if strings.TrimSpace(code) == "" {
		return p.clientRefused(c, models.FieldError("code", "missing_field", "Enter the activation code you were given."))
	}
	sess, err := p.svc.OpenClientSession(ctx, code)
	if err != nil {
		return p.clientRefused(c, err)
	}
	p.setCookie(c, ClientCookie, sess.Token, time.Until(sess.ExpiresAt))
	return redirect(c, "/status/projects/"+sess.ProjectID.String())
}

func (p *Portal) clientRefused(c echo.Context, err error) error {
	e, ok := models.AsError(err)
	if !ok {
		return err
	}
	msg := e.Message
	if e.Kind == models.KindNotFound {
		msg = errNoProject
	}
	setRetryAfter(c, err)
	return p.renderStatus(c, statusOf(e), "client_code", p.clientFormView(c, clientFormData{Error: msg}))
}

func (p *Portal) clientOpen(c echo.Context) error {
	return p.openWithCode(c, c.FormValue("code"))
}

// clientLinkOpen: GET /status/CODE, the link a tenant sends.
func (p *Portal) clientLinkOpen(c echo.Context) error {
	c.Set(RedactPathKey, true)
	return p.openWithCode(c, c.Param("code"))
}

func (p *Portal) clientForget(c echo.Context) error {
	p.setCookie(c, ClientCookie, "", -1)
	return redirect(c, "/status")
}

// clientData is the client's project page.
type clientData struct {
	Project   service.PublicProject
	Brand     service.Branding
	EventsURL string
	// DownloadURL serves the zip of the last completed run (with the
	// session cookie).
	DownloadURL string
}

// clientProject: the one project the client's session opens.
func (p *Portal) clientProject(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := uuid.Parse(c.Param("id"))
	ck, cerr := c.Cookie(ClientCookie)
	if err != nil || cerr != nil || ck.Value == "" {
		return p.renderStatus(c, http.StatusNotFound, "client_code", p.clientFormView(c, clientFormData{Error: "Enter your activation code to see this project."}))
	}
	pp, err := p.svc.ActivateProject(ctx, ck.Value)
	if err != nil || pp.ID != id {
		if err != nil {
			if _, ok := models.AsError(err); !ok {
				return err
			}
		}
		p.setCookie(c, ClientCookie, "", -1)
		return p.renderStatus(c, http.StatusNotFound, "client_code", p.clientFormView(c, clientFormData{Error: "This page has expired. Enter your activation code again."}))
	}
	brand, err := p.svc.ProjectBranding(ctx, id)
	if err != nil {
		return err
	}
	v := p.clientView(c, pp.Name)
	v.Brand, v.BrandName, v.Logo = brand.PrimaryColor, brand.Name, brand.LogoURL
	base := "/api/public/projects/" + id.String()
	d := clientData{Project: pp, Brand: brand, DownloadURL: base + "/download", EventsURL: base + "/events"}
	if head, ok := p.streamHead(ctx, brand.TenantID); ok {
		d.EventsURL += "?last_event_id=" + url.QueryEscape(head)
	}
	v.Data = d
	return p.render(c, "client", v)
}
